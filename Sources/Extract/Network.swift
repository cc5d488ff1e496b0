import Dispatch
import Numerics

/// Keras parameters of one `conv2d_bn` unit, as stored in the weights file.
public struct ConvBNParameters: Sendable {
    /// (kh, kw, cin, cout), row-major.
    public var kernel: [Float]
    public var kernelShape: [Int]
    /// (cout,) each. BatchNormalization(scale=False) has no gamma.
    public var beta: [Float]
    public var movingMean: [Float]
    public var movingVariance: [Float]

    public init(kernel: [Float], kernelShape: [Int], beta: [Float], movingMean: [Float], movingVariance: [Float]) {
        self.kernel = kernel; self.kernelShape = kernelShape
        self.beta = beta; self.movingMean = movingMean; self.movingVariance = movingVariance
    }
}

/// The frozen base's parameters in convolution order, with where they came from.
public struct InceptionV3Weights: Sendable {
    public var units: [ConvBNParameters]
    /// SHA-256 of the weights file (hex), part of every cache fingerprint.
    public var sha256: String
    public var sourceName: String

    public init(units: [ConvBNParameters], sha256: String, sourceName: String) {
        self.units = units; self.sha256 = sha256; self.sourceName = sourceName
    }
}

/// Keras BatchNormalization epsilon used by `conv2d_bn`.
let batchNormEpsilon: Float = 1e-3

/// InceptionV3 from an NHWC float32 batch to a cut layer, planned for BLAS:
/// - BatchNorm folded into each convolution at load time: W'[.., j] = W[.., j]·s_j, b_j = β_j − μ_j·s_j with
///   s_j = 1/√(σ²_j + ε) — exactly the `x·s + (β − μ·s)` that tf.nn.batch_normalization computes;
/// - the parallel 1×1 convolutions that read one tensor run as one GEMM over the whole batch on concatenated
///   kernels, and the pool branch's 1×1 joins them by running before its average pooling (linear ops commute);
/// - k×k convolutions as im2col + sgemm in cache-sized row chunks, ReLU and bias fused into the epilogue;
/// - every branch writes straight into its channel slice of the concatenated block output.
/// Work is split over row chunks across `threads` threads, each GEMM single-threaded.
public final class Network {
    public let cut: CutLayer
    public let inputHeight: Int, inputWidth: Int
    public let outputShape: [Int]  // (h, w, c) per image
    public let threads: Int

    private var steps: [Step] = []
    /// Per-image float count of each internal buffer; ids 0 and 1 are the caller's input and output.
    private var bufferSizes: [Int] = [0, 0]
    private var buffers: [UnsafeMutablePointer<Float>?] = [nil, nil]
    private var capacity = 0  // images the internal buffers hold
    /// All folded kernels and biases in one allocation, addressed by offsets.
    private var params: UnsafeMutablePointer<Float>
    private var paramCount = 0
    private var workspaces: [UnsafeMutablePointer<Float>] = []
    private let pool: WorkerPool
    private var workspaceFloats = 0

    public static let minimumInputSize = 75

    public enum ConfigurationError: Error, CustomStringConvertible {
        case inputTooSmall(height: Int, width: Int)
        case wrongWeightCount(expected: Int, found: Int, cut: CutLayer)
        case wrongShape(unit: Int, what: String, expected: [Int], found: [Int])
        public var description: String {
            switch self {
            case let .inputTooSmall(h, w):
                return "input size \(h)×\(w) is too small: InceptionV3 needs at least \(Network.minimumInputSize)×\(Network.minimumInputSize)"
            case let .wrongWeightCount(e, f, cut):
                return "\(cut.rawValue) needs \(e) conv2d_bn units, the weights have \(f)"
            case let .wrongShape(u, what, e, f):
                return "convolution \(u + 1): \(what) has shape \(f), expected \(e)"
            }
        }
    }

    public init(weights: InceptionV3Weights, cut: CutLayer = .mixed7, height: Int = 150, width: Int = 150,
                threads: Int = 2) throws {
        guard height >= Self.minimumInputSize, width >= Self.minimumInputSize else {
            throw ConfigurationError.inputTooSmall(height: height, width: width)
        }
        self.cut = cut
        self.inputHeight = height; self.inputWidth = width
        self.threads = max(1, threads)
        pool = WorkerPool(threads: max(1, threads))
        let graph = inceptionV3Graph(height: height, width: width, cut: cut)
        outputShape = [graph.output.h, graph.output.w, graph.output.c]
        guard weights.units.count >= graph.convs.count else {
            throw ConfigurationError.wrongWeightCount(expected: graph.convs.count, found: weights.units.count, cut: cut)
        }
        for conv in graph.convs {
            let u = weights.units[conv.index]
            if u.kernelShape != conv.kernelShape || u.kernel.count != conv.kernelShape.reduce(1, *) {
                throw ConfigurationError.wrongShape(unit: conv.index, what: "kernel", expected: conv.kernelShape, found: u.kernelShape)
            }
            for (what, v) in [("beta", u.beta), ("moving_mean", u.movingMean), ("moving_variance", u.movingVariance)]
            where v.count != conv.cout {
                throw ConfigurationError.wrongShape(unit: conv.index, what: what, expected: [conv.cout], found: [v.count])
            }
        }
        let total = graph.convs.reduce(0) { $0 + $1.kernelShape.reduce(1, *) + $1.cout }
        params = .allocate(capacity: total)
        plan(graph, weights.units)
    }

    deinit {
        params.deallocate()
        for b in buffers.dropFirst(2) { b?.deallocate() }
        for w in workspaces { w.deallocate() }
    }

    // MARK: - Plan

    /// Where a tensor lives: a buffer, the channel offset of its first channel, and the buffer's channels per pixel.
    struct Storage { var buffer: Int; var offset: Int; var stride: Int }

    struct Epilogue {
        var column: Int, n: Int
        var bias: Int  // offset into params
        enum Kind { case inPlace, copy(Storage), pooled }
        var kind: Kind
    }

    /// One GEMM over all pixels of the batch: (M, k) input × (k, n) kernels, then per-member epilogues.
    struct GemmStep {
        var input: Storage
        var k: Int, n: Int
        var kernel: Int  // offset into params of (k, n)
        var target: Storage  // the GEMM's C matrix
        var epilogues: [Epilogue]
        var h: Int, w: Int  // output spatial size
        // im2col geometry (nil for 1×1 stride-1 convolutions, which read the input as it is)
        var im2col: (ih: Int, iw: Int, cin: Int, kh: Int, kw: Int, s: Int, padTop: Int, padLeft: Int)?
        var chunkRows: Int
    }

    enum Step {
        case gemm(GemmStep)
        case maxPool(input: Storage, output: Storage, c: Int, h: Int, w: Int, oh: Int, ow: Int)
        case avgPool(input: Storage, output: Storage, c: Int, h: Int, w: Int, bias: Int?)
    }

    private func addBuffer(floatsPerImage: Int) -> Int {
        bufferSizes.append(floatsPerImage)
        buffers.append(nil)
        return bufferSizes.count - 1
    }

    private func plan(_ g: GraphBuilder, _ units: [ConvBNParameters]) {
        let tensors = g.tensors
        var storage = [Storage?](repeating: nil, count: tensors.count)
        storage[0] = Storage(buffer: 0, offset: 0, stride: 3)
        storage[g.output.id] = Storage(buffer: 1, offset: 0, stride: g.output.c)

        func own(_ t: Int) -> Storage {
            if let s = storage[t] { return s }
            let s = Storage(buffer: addBuffer(floatsPerImage: tensors[t].h * tensors[t].w * tensors[t].c),
                            offset: 0, stride: tensors[t].c)
            storage[t] = s
            return s
        }

        // Concatenations are views: each input lives in its channel slice of the output. Outer concatenations
        // come later in the graph, so walking backwards places nested ones (mixed9_0 inside mixed9) correctly.
        for node in g.nodes.reversed() {
            guard case let .concat(inputs, output, name) = node else { continue }
            let out = own(output)
            var offset = out.offset
            for t in inputs {
                precondition(storage[t] == nil, "\(name): an input is already placed elsewhere")
                storage[t] = Storage(buffer: out.buffer, offset: offset, stride: out.stride)
                offset += tensors[t].c
            }
        }

        // Consumers of each tensor, to find fusible 1×1 convolutions.
        var consumers = [[Int]](repeating: [], count: tensors.count)  // node indices
        for (i, node) in g.nodes.enumerated() {
            switch node {
            case let .conv(c): consumers[c.input].append(i)
            case let .maxPool(input, _), let .avgPool(input, _): consumers[input].append(i)
            case let .concat(inputs, _, _): for t in inputs { consumers[t].append(i) }
            }
        }

        // Fold BatchNorm into the kernels (one allocation, offsets per unit).
        var kernelOffset = [Int](repeating: 0, count: g.convs.count)
        var biasOffset = [Int](repeating: 0, count: g.convs.count)
        var cursor = 0
        for conv in g.convs {
            let u = units[conv.index]
            let kCount = conv.kh * conv.kw * conv.cin
            kernelOffset[conv.index] = cursor
            biasOffset[conv.index] = cursor + kCount * conv.cout
            for j in 0..<conv.cout {
                let s = 1 / (u.movingVariance[j] + batchNormEpsilon).squareRoot()
                for r in 0..<kCount { params[cursor + r * conv.cout + j] = u.kernel[r * conv.cout + j] * s }
                params[biasOffset[conv.index] + j] = u.beta[j] - u.movingMean[j] * s
            }
            cursor += kCount * conv.cout + conv.cout
        }
        paramCount = cursor

        // Fusion groups: for each tensor, its 1×1 stride-1 consumers, plus 1×1 convolutions fed only by an
        // average pooling of it (moved before the pooling).
        var handled = Set<Int>()  // node indices emitted as part of a group
        var workspaceNeed = 0
        for (i, node) in g.nodes.enumerated() {
            if handled.contains(i) { continue }
            switch node {
            case let .conv(conv):
                let x = conv.input
                var members: [(conv: ConvNode, pooled: Int?)] = []  // pooled: the avgPool node index
                if conv.kh == 1 && conv.kw == 1 && conv.stride == 1 {
                    for ci in consumers[x] {
                        switch g.nodes[ci] {
                        case let .conv(c) where c.kh == 1 && c.kw == 1 && c.stride == 1:
                            members.append((c, nil)); handled.insert(ci)
                        case let .avgPool(_, pooledOut) where ci > i && consumers[pooledOut].count == 1:
                            if case let .conv(c) = g.nodes[consumers[pooledOut][0]], c.kh == 1, c.kw == 1, c.stride == 1 {
                                members.append((c, ci)); handled.insert(ci); handled.insert(consumers[pooledOut][0])
                            }
                        default: break
                        }
                    }
                } else {
                    members = [(conv, nil)]
                    handled.insert(i)
                }
                let k = conv.kh * conv.kw * conv.cin
                let n = members.reduce(0) { $0 + $1.conv.cout }
                let t = tensors[conv.output]
                let m = t.h * t.w  // per image
                // Kernel matrix: one member's stays where folding put it; a group's is copied side by side.
                var kernel = kernelOffset[members[0].conv.index]
                var target: Storage
                var epilogues: [Epilogue] = []
                if members.count == 1 && members[0].pooled == nil {
                    target = own(conv.output)
                    epilogues.append(Epilogue(column: 0, n: n, bias: biasOffset[conv.index], kind: .inPlace))
                } else {
                    let temp = addBuffer(floatsPerImage: m * n)
                    target = Storage(buffer: temp, offset: 0, stride: n)
                    kernel = appendParams(count: k * n)
                    var col = 0
                    for (member, pooled) in members {
                        for r in 0..<k {
                            (params + kernel + r * n + col).update(
                                from: params + kernelOffset[member.index] + r * member.cout, count: member.cout)
                        }
                        let slice = Storage(buffer: temp, offset: col, stride: n)
                        if pooled != nil {
                            epilogues.append(Epilogue(column: col, n: member.cout, bias: biasOffset[member.index], kind: .pooled))
                        } else if let dest = storage[member.output] {
                            epilogues.append(Epilogue(column: col, n: member.cout, bias: biasOffset[member.index], kind: .copy(dest)))
                        } else {
                            storage[member.output] = slice
                            epilogues.append(Epilogue(column: col, n: member.cout, bias: biasOffset[member.index], kind: .inPlace))
                        }
                        col += member.cout
                    }
                }
                let inT = tensors[x]
                var geometry: (ih: Int, iw: Int, cin: Int, kh: Int, kw: Int, s: Int, padTop: Int, padLeft: Int)? = nil
                if !(conv.kh == 1 && conv.kw == 1 && conv.stride == 1) {
                    geometry = (inT.h, inT.w, conv.cin, conv.kh, conv.kw, conv.stride, conv.padTop, conv.padLeft)
                }
                // Chunks of about 4 MB of im2col rows (they stay in L2/L3 between im2col and GEMM).
                let chunkRows = geometry == nil ? 2048 : max(128, min(8192, (1 << 20) / k))
                if geometry != nil { workspaceNeed = max(workspaceNeed, chunkRows * k) }
                steps.append(.gemm(GemmStep(
                    input: own(x), k: k, n: n, kernel: kernel, target: target, epilogues: epilogues,
                    h: t.h, w: t.w, im2col: geometry, chunkRows: chunkRows)))
                // The moved pool branches: pool the GEMM's columns, then bias + ReLU into their destination.
                for (member, pooled) in members where pooled != nil {
                    let col = epilogues.first { $0.bias == biasOffset[member.index] }!.column
                    steps.append(.avgPool(
                        input: Storage(buffer: target.buffer, offset: col, stride: n), output: own(member.output),
                        c: member.cout, h: t.h, w: t.w, bias: biasOffset[member.index]))
                }
            case let .maxPool(input, output):
                let a = tensors[input], b = tensors[output]
                steps.append(.maxPool(input: own(input), output: own(output), c: a.c, h: a.h, w: a.w, oh: b.h, ow: b.w))
            case let .avgPool(input, output):
                let a = tensors[input]
                steps.append(.avgPool(input: own(input), output: own(output), c: a.c, h: a.h, w: a.w, bias: nil))
            case .concat:
                break  // views: the branches already wrote their slices
            }
        }
        workspaceFloats = workspaceNeed
        workspaces = (0..<threads).map { _ in .allocate(capacity: max(workspaceNeed, 1)) }
    }

    /// Grows the parameter allocation by `count` floats and returns their offset.
    private func appendParams(count: Int) -> Int {
        let grown = UnsafeMutablePointer<Float>.allocate(capacity: paramCount + count)
        grown.update(from: params, count: paramCount)
        params.deallocate()
        params = grown
        paramCount += count
        return paramCount - count
    }

    // MARK: - Run

    /// Per-step wall time, accumulated over `forward` calls while profiling is on (for the benchmarks).
    public struct StepProfile { public var name: String; public var flops: Double; public var seconds: Double }
    public private(set) var profile: [StepProfile] = []

    /// Starts (or restarts) accumulating per-step times; FLOPs are per image.
    public func startProfiling() {
        profile = steps.map { step in
            switch step {
            case let .gemm(g):
                let kind = g.im2col.map { "conv \($0.kh)×\($0.kw)/\($0.s)" } ?? "gemm 1×1 ×\(g.epilogues.count)"
                return StepProfile(name: "\(kind) \(g.h)×\(g.w) k=\(g.k) n=\(g.n)",
                                   flops: 2 * Double(g.h * g.w * g.k * g.n), seconds: 0)
            case let .maxPool(_, _, c, _, _, oh, ow):
                return StepProfile(name: "maxpool \(oh)×\(ow)×\(c)", flops: 0, seconds: 0)
            case let .avgPool(_, _, c, h, w, bias):
                return StepProfile(name: "avgpool \(h)×\(w)×\(c)\(bias == nil ? "" : " +bias")", flops: 0, seconds: 0)
            }
        }
    }

    /// Runs `batch` images. input: (batch, H, W, 3); output: (batch, outputShape...) — both contiguous NHWC.
    public func forward(_ input: UnsafePointer<Float>, batch: Int, into output: UnsafeMutablePointer<Float>) {
        precondition(batch > 0)
        if batch > capacity {
            for i in 2..<buffers.count {
                buffers[i]?.deallocate()
                buffers[i] = .allocate(capacity: bufferSizes[i] * batch)
            }
            capacity = batch
        }
        buffers[0] = UnsafeMutablePointer(mutating: input)
        buffers[1] = output
        // Each GEMM runs on one thread; the network splits rows across its own threads. This also keeps results
        // bitwise independent of the thread count and of the batch an image is in.
        let savedBLASThreads = BLASThreads.current
        BLASThreads.set(1)
        defer { BLASThreads.set(savedBLASThreads) }
        if profile.isEmpty {
            for step in steps { run(step, batch: batch) }
        } else {
            for (i, step) in steps.enumerated() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                run(step, batch: batch)
                profile[i].seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
        }
        buffers[0] = nil; buffers[1] = nil
    }

    @inline(__always)
    private func pointer(_ s: Storage) -> UnsafeMutablePointer<Float> { buffers[s.buffer]! + s.offset }

    /// Splits `count` work items into chunks of `chunk`, run by the pool's threads.
    private func parallel(_ count: Int, chunk: Int, _ body: @escaping (_ thread: Int, _ start: Int, _ end: Int) -> Void) {
        pool.parallelFor(count, chunk: chunk, body)
    }

    private func run(_ step: Step, batch: Int) {
        switch step {
        case let .gemm(g):
            let rows = batch * g.h * g.w
            // Enough chunks to keep every thread busy, but no smaller than needed.
            let chunk = max(1, min(g.chunkRows, (rows + threads - 1) / threads))
            let a = pointer(g.input), c = pointer(g.target)
            let kernel = UnsafePointer(params + g.kernel)
            parallel(rows, chunk: chunk) { [self] thread, r0, r1 in
                let m = r1 - r0
                let cRows = c + r0 * g.target.stride
                if let geo = g.im2col {
                    let col = workspaces[thread]
                    im2col(col, a, rows: r0, r1, h: geo.ih, w: geo.iw, stride: g.input.stride, cin: geo.cin,
                           oh: g.h, ow: g.w, kh: geo.kh, kw: geo.kw, s: geo.s, padTop: geo.padTop, padLeft: geo.padLeft)
                    sgemm(m: m, n: g.n, k: g.k, a: col, lda: g.k, b: kernel, ldb: g.n, c: cRows, ldc: g.target.stride)
                } else {
                    sgemm(m: m, n: g.n, k: g.k, a: a + r0 * g.input.stride, lda: g.input.stride,
                          b: kernel, ldb: g.n, c: cRows, ldc: g.target.stride)
                }
                for e in g.epilogues {
                    let bias = UnsafePointer(params + e.bias)
                    switch e.kind {
                    case .inPlace:
                        bias_relu_forward(cRows + e.column, ld: g.target.stride, bias, rows: m, n: e.n)
                    case let .copy(dest):
                        bias_relu_copy(pointer(dest) + r0 * dest.stride, ldd: dest.stride, cRows + e.column,
                                       lds: g.target.stride, bias, rows: m, n: e.n)
                    case .pooled:
                        break
                    }
                }
            }
        case let .maxPool(input, output, c, h, w, oh, ow):
            let inp = pointer(input), out = pointer(output)
            parallel(batch * oh, chunk: max(1, (batch * oh + 2 * threads - 1) / (2 * threads))) { _, l0, l1 in
                maxpool3x3s2_forward(out, outStride: output.stride, inp, inStride: input.stride,
                                     c: c, h: h, w: w, oh: oh, ow: ow, lines: l0, l1)
            }
        case let .avgPool(input, output, c, h, w, bias):
            let inp = pointer(input), out = pointer(output)
            let b = bias.map { UnsafePointer(params + $0) }
            parallel(batch * h, chunk: max(1, (batch * h + 2 * threads - 1) / (2 * threads))) { _, l0, l1 in
                avgpool3x3same_forward(out, outStride: output.stride, inp, inStride: input.stride,
                                       c: c, h: h, w: w, bias: b, lines: l0, l1)
            }
        }
    }
}
