import CKernels
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

/// InceptionV3 from an NHWC float32 batch to a cut layer, planned for headstart's own kernels (`CKernels`):
/// - BatchNorm folded into each convolution at load time: W'[.., j] = W[.., j]·s_j, b_j = β_j − μ_j·s_j with
///   s_j = 1/√(σ²_j + ε) — exactly the `x·s + (β − μ·s)` that tf.nn.batch_normalization computes;
/// - 3×3 and 5×5 stride-1 convolutions by Winograd F(4×4, 3×3) and F(2×2, 5×5): 36 GEMMs on transformed
///   6×6 tiles, with the folded bias and ReLU in the output transform;
/// - every other convolution as an indirect GEMM: the micro-kernel reads each output pixel's receptive field
///   straight from the input (no im2col copy), bias and ReLU in its store;
/// - the parallel 1×1 convolutions that read one tensor run together over each chunk of rows (the rows stay
///   in cache across them), and the pool branch's 1×1 joins them by running before its average pooling
///   (both are linear, so they commute);
/// - every branch writes straight into its channel slice of the concatenated block output.
/// Work is split over rows (or tiles) and output-channel panels across `threads` threads; each output sums its
/// terms in the same order however the work is split, so an image's features do not depend on the batch it is
/// in or on the thread count.
public final class Network {
    public let cut: CutLayer
    public let inputHeight: Int, inputWidth: Int
    public let outputShape: [Int]  // (h, w, c) per image
    public let threads: Int
    /// The instruction set the kernels run with (`InstructionSet.fromEnvironment()` unless given).
    public let instructionSet: InstructionSet
    /// Whether 3×3 and 5×5 stride-1 convolutions use Winograd (else the GEMM path, as every other one).
    public let winograd: Bool

    /// Bytes of the planned parameters (packed and transformed kernels, biases): what a forward pass streams.
    public var parameterBytes: Int { parameters.count * MemoryLayout<Float>.stride }

    /// What runs the convolutions, for summaries: "avx2 kernels, Winograd, 2 threads".
    public var kernelDescription: String {
        "\(instructionSet.rawValue) kernels, \(winograd ? "Winograd" : "no Winograd"), \(threads) thread\(threads == 1 ? "" : "s")"
    }

    private let isa: hs_isa
    private var steps: [Step] = []
    /// Per-image float count of each internal buffer; ids 0 and 1 are the caller's input and output.
    private var bufferSizes: [Int] = [0, 0]
    private var buffers: [UnsafeMutablePointer<Float>?] = [nil, nil]
    private var capacity = 0  // images the internal buffers hold
    /// Packed kernels, Winograd-transformed kernels and biases, in one allocation addressed by offsets.
    private var parameters = AlignedFloats(count: 0)
    /// One scratch area per thread (indirection pointers, Winograd tiles), sized for the largest step.
    private var scratch: [UnsafeMutableRawPointer] = []
    private let pool: WorkerPool

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
                threads: Int = 2, instructionSet: InstructionSet? = nil, winograd: Bool = true) throws {
        guard height >= Self.minimumInputSize, width >= Self.minimumInputSize else {
            throw ConfigurationError.inputTooSmall(height: height, width: width)
        }
        let chosen = try instructionSet ?? InstructionSet.fromEnvironment()
        guard chosen <= InstructionSet.detected else {
            throw KernelError.unsupportedInstructionSet(requested: chosen, available: InstructionSet.detected)
        }
        self.instructionSet = chosen
        self.isa = chosen.c
        self.winograd = winograd
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
        plan(graph, weights.units)
    }

    deinit {
        for b in buffers.dropFirst(2) { b?.deallocate() }
        for s in scratch { s.deallocate() }
    }

    // MARK: - Plan

    /// Where a tensor lives: a buffer, the channel offset of its first channel, and the buffer's channels per pixel.
    struct Storage { var buffer: Int; var offset: Int; var stride: Int }

    /// The spatial shape of a convolution (per image).
    struct Geometry {
        var h: Int, w: Int, cin: Int
        var kh: Int, kw: Int, stride: Int, padTop: Int, padLeft: Int
        var oh: Int, ow: Int
    }

    /// One convolution's share of a GEMM step: its packed kernel, its epilogue and where it writes.
    struct Member {
        var packed: Int  // offset into parameters of the packed (K, n) kernel
        var n: Int
        var bias: Int?  // offset into parameters; nil for a pool branch's 1×1, whose bias follows the pooling
        var output: Storage
        var panels: Int  // ceil(n / NR)
    }

    /// Convolutions reading one input with one geometry (several only for the fused 1×1s), as indirect GEMMs.
    struct GemmStep {
        var input: Storage
        var geometry: Geometry
        var members: [Member]
        var panels: Int { members.reduce(0) { $0 + $1.panels } }
    }

    /// A 3×3 or 5×5 stride-1 convolution by Winograd (2D), or a 1×k / k×1 one by one-dimensional Winograd.
    struct WinogradStep {
        var input: Storage
        var geometry: Geometry
        var member: Member  // `packed` is the transformed kernels
        var oneDimensional: Bool { geometry.kh == 1 || geometry.kw == 1 }
    }

    enum Step {
        case gemm(GemmStep)
        case winograd(WinogradStep)
        case maxPool(input: Storage, output: Storage, c: Int, h: Int, w: Int, oh: Int, ow: Int)
        case avgPool(input: Storage, output: Storage, c: Int, h: Int, w: Int, bias: Int?)
    }

    private func addBuffer(floatsPerImage: Int) -> Int {
        bufferSizes.append(floatsPerImage)
        buffers.append(nil)
        return bufferSizes.count - 1
    }

    /// Parameters as they are planned, copied into one aligned allocation at the end; every block starts at a
    /// multiple of 16 floats (64 bytes).
    private struct ParameterBuilder {
        var values: [Float] = []
        mutating func append(count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> Int {
            let offset = (values.count + 15) & ~15
            values.append(contentsOf: repeatElement(0, count: offset + count - values.count))
            values.withUnsafeMutableBufferPointer { fill($0.baseAddress! + offset) }
            return offset
        }
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

        var params = ParameterBuilder()
        let nr = instructionSet.blocking.nr
        // BatchNorm folded: kernel (kh, kw, cin, cout) scaled per output channel, and the shift as a bias.
        func folded(_ conv: ConvNode) -> (kernel: [Float], bias: [Float]) {
            let u = units[conv.index]
            let rows = conv.kh * conv.kw * conv.cin
            var kernel = u.kernel, bias = [Float](repeating: 0, count: conv.cout)
            for j in 0..<conv.cout {
                let s = 1 / (u.movingVariance[j] + batchNormEpsilon).squareRoot()
                for r in 0..<rows { kernel[r * conv.cout + j] = u.kernel[r * conv.cout + j] * s }
                bias[j] = u.beta[j] - u.movingMean[j] * s
            }
            return (kernel, bias)
        }
        func member(_ conv: ConvNode, output: Storage, biasAfterPooling: Bool, winograd: Bool) -> Member {
            let (kernel, bias) = folded(conv)
            let packed: Int
            if winograd && (conv.kh == 1 || conv.kw == 1) {
                let taps = max(conv.kh, conv.kw)
                let count = hs_winograd1d_packed_floats(isa, Int32(taps), Int32(conv.cin), Int32(conv.cout))
                packed = params.append(count: count) { dst in
                    kernel.withUnsafeBufferPointer {
                        hs_winograd1d_pack_kernel(isa, dst, $0.baseAddress!, Int32(taps), Int32(conv.cin), Int32(conv.cout))
                    }
                }
            } else if winograd {
                let count = 36 * hs_packed_floats(isa, Int32(conv.cin), Int32(conv.cout))
                packed = params.append(count: count) { dst in
                    kernel.withUnsafeBufferPointer {
                        hs_winograd_pack_kernel(isa, dst, $0.baseAddress!, Int32(conv.kh), Int32(conv.cin), Int32(conv.cout))
                    }
                }
            } else {
                let k = conv.kh * conv.kw * conv.cin
                packed = params.append(count: hs_packed_floats(isa, Int32(k), Int32(conv.cout))) { dst in
                    kernel.withUnsafeBufferPointer {
                        hs_pack_b(isa, dst, $0.baseAddress!, conv.cout, 0, Int32(k), Int32(conv.cout))
                    }
                }
            }
            let biasOffset = params.append(count: conv.cout) { dst in bias.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: conv.cout) } }
            return Member(packed: packed, n: conv.cout, bias: biasAfterPooling ? nil : biasOffset,
                          output: output, panels: (conv.cout + nr - 1) / nr)
        }
        func geometry(_ conv: ConvNode) -> Geometry {
            let x = tensors[conv.input], y = tensors[conv.output]
            return Geometry(h: x.h, w: x.w, cin: conv.cin, kh: conv.kh, kw: conv.kw, stride: conv.stride,
                            padTop: conv.padTop, padLeft: conv.padLeft, oh: y.h, ow: y.w)
        }

        // Fusion groups: for each tensor, its 1×1 stride-1 consumers, plus 1×1 convolutions fed only by an
        // average pooling of it (moved before the pooling).
        var handled = Set<Int>()  // node indices emitted as part of a group
        for (i, node) in g.nodes.enumerated() {
            if handled.contains(i) { continue }
            switch node {
            case let .conv(conv) where conv.kh == 1 && conv.kw == 1 && conv.stride == 1:
                var members: [Member] = []
                var pooled: [(conv: ConvNode, temp: Storage, bias: Int)] = []
                for ci in consumers[conv.input] {
                    switch g.nodes[ci] {
                    case let .conv(c) where c.kh == 1 && c.kw == 1 && c.stride == 1:
                        members.append(member(c, output: own(c.output), biasAfterPooling: false, winograd: false))
                        handled.insert(ci)
                    case let .avgPool(_, pooledOut) where ci > i && consumers[pooledOut].count == 1:
                        if case let .conv(c) = g.nodes[consumers[pooledOut][0]], c.kh == 1, c.kw == 1, c.stride == 1 {
                            let t = tensors[c.output]
                            let temp = Storage(buffer: addBuffer(floatsPerImage: t.h * t.w * t.c), offset: 0, stride: t.c)
                            let m = member(c, output: temp, biasAfterPooling: true, winograd: false)
                            members.append(m)
                            let (_, bias) = folded(c)
                            let b = params.append(count: c.cout) { dst in bias.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: c.cout) } }
                            pooled.append((c, temp, b))
                            handled.insert(ci); handled.insert(consumers[pooledOut][0])
                        }
                    default: break
                    }
                }
                steps.append(.gemm(GemmStep(input: own(conv.input), geometry: geometry(conv), members: members)))
                // The moved pool branches: pool the GEMM's output, then bias + ReLU into their destination.
                for (c, temp, bias) in pooled {
                    let t = tensors[c.output]
                    steps.append(.avgPool(input: temp, output: own(c.output), c: c.cout, h: t.h, w: t.w, bias: bias))
                }
            case let .conv(conv):
                handled.insert(i)
                let useWinograd = winograd && Self.winogradApplies(conv)
                let m = member(conv, output: own(conv.output), biasAfterPooling: false, winograd: useWinograd)
                if useWinograd {
                    steps.append(.winograd(WinogradStep(input: own(conv.input), geometry: geometry(conv), member: m)))
                } else {
                    steps.append(.gemm(GemmStep(input: own(conv.input), geometry: geometry(conv), members: [m])))
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

        parameters = AlignedFloats(count: params.values.count)
        params.values.withUnsafeBufferPointer { parameters.pointer.update(from: $0.baseAddress!, count: $0.count) }

        var scratchBytes = 64
        for step in steps {
            switch step {
            case let .gemm(s):
                scratchBytes = max(scratchBytes, hs_conv_scratch_bytes(isa, Int32(s.geometry.kh), Int32(s.geometry.kw), Int32(s.geometry.cin)))
            case let .winograd(s) where s.oneDimensional:
                var d = winograd1DDescriptor(s)
                scratchBytes = max(scratchBytes, hs_winograd1d_scratch_bytes(isa, &d))
            case let .winograd(s):
                var d = winogradDescriptor(s)
                scratchBytes = max(scratchBytes, hs_winograd_scratch_bytes(isa, &d))
            default: break
            }
        }
        scratch = (0..<threads).map { _ in
            UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        }
    }

    /// Stride-1 convolutions Winograd runs: k×k for k = 3, 5 ('same' or 'valid'), and 1×k / k×1 for k = 3, 5, 7
    /// with 'same' padding (the line keeps its length).
    static func winogradApplies(_ conv: ConvNode) -> Bool {
        guard conv.stride == 1 else { return false }
        if conv.kh == conv.kw { return conv.kh == 3 || conv.kh == 5 }
        let taps = max(conv.kh, conv.kw)
        guard min(conv.kh, conv.kw) == 1, [3, 5, 7].contains(taps) else { return false }
        return (conv.kh == 1 ? conv.padLeft : conv.padTop) == (taps - 1) / 2
    }

    // MARK: - Run

    /// Per-step wall time, accumulated over `forward` calls while profiling is on (for the benchmarks).
    public struct StepProfile { public var name: String; public var flops: Double; public var seconds: Double }
    public private(set) var profile: [StepProfile] = []

    /// Starts (or restarts) accumulating per-step times; FLOPs are per image, counted as a dense convolution
    /// would do them (so a Winograd step's GFLOP/s is its dense-equivalent rate).
    public func startProfiling() {
        profile = steps.map { step in
            switch step {
            case let .gemm(s):
                let g = s.geometry
                let n = s.members.reduce(0) { $0 + $1.n }
                let kind = g.kh == 1 && g.kw == 1 && g.stride == 1 ? "gemm 1×1 ×\(s.members.count)" : "conv \(g.kh)×\(g.kw)/\(g.stride)"
                return StepProfile(name: "\(kind) \(g.oh)×\(g.ow) k=\(g.kh * g.kw * g.cin) n=\(n)",
                                   flops: 2 * Double(g.oh * g.ow * g.kh * g.kw * g.cin * n), seconds: 0)
            case let .winograd(s):
                let g = s.geometry
                return StepProfile(name: "winograd\(s.oneDimensional ? "1d" : "") \(g.kh)×\(g.kw) \(g.oh)×\(g.ow) k=\(g.kh * g.kw * g.cin) n=\(s.member.n)",
                                   flops: 2 * Double(g.oh * g.ow * g.kh * g.kw * g.cin * s.member.n), seconds: 0)
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
        if profile.isEmpty {
            for step in steps { run(step, batch: batch) }
        } else {
            for (i, step) in steps.enumerated() {
                let t0 = now()
                run(step, batch: batch)
                profile[i].seconds += now() - t0
            }
        }
        buffers[0] = nil; buffers[1] = nil
    }

    @inline(__always)
    private func pointer(_ s: Storage) -> UnsafeMutablePointer<Float> { buffers[s.buffer]! + s.offset }

    /// How a step's work is cut: rows (or Winograd tiles, lines) in chunks of `chunk`, times `panelChunks`
    /// slices of the output-channel panels.
    /// - Many rows (a batch): rows only, about four chunks per thread so a preempted thread holds nobody up.
    /// - Few rows (one image): the output channels are split, so each thread reads only its share of the weights
    ///   (at batch 1 the weights, not the arithmetic, are most of the memory traffic) — except where each panel
    ///   slice would repeat work per slice (`sharedWork`: a Winograd input transform), which splits the rows
    ///   first as long as every thread gets two register tiles of them. One chunk per thread here: every chunk
    ///   repeats its rows' gathering or transforms, and at batch 1 two chunks per thread measured 8–15% slower
    ///   (median 11.9–14.5 ms against 10.6–12.3 ms per image) than the balance they buy.
    private func partition(units: Int, granule: Int, panels: Int, sharedWork: Bool = false) -> (chunk: Int, chunks: Int, panelChunks: Int) {
        if threads == 1 { return (units, 1, 1) }
        let wanted = threads * 4
        func rows(_ n: Int) -> (Int, Int, Int) {
            let chunk = ((units + n - 1) / n + granule - 1) / granule * granule
            return (chunk, (units + chunk - 1) / chunk, 1)
        }
        if units >= wanted * granule * 2 { return rows(wanted) }
        if sharedWork && units >= threads * granule * 2 { return rows(threads) }
        if panels >= threads * 2 { return (units, 1, threads) }
        let chunks = max(1, min(units / max(granule, 1), threads))
        let chunk = (units + chunks - 1) / chunks
        return (chunk, (units + chunk - 1) / chunk, max(1, min(panels, threads)))
    }

    /// Runs `body(thread, units u0..<u1, panels p0..<p1)` over the chunks `partition` cuts, on the pool.
    private func split(units: Int, granule: Int, panels: Int, sharedWork: Bool = false,
                       _ body: @escaping (_ thread: Int, _ u0: Int, _ u1: Int, _ p0: Int, _ p1: Int) -> Void) {
        let (chunk, chunks, panelChunks) = partition(units: units, granule: granule, panels: panels, sharedWork: sharedWork)
        pool.parallelChunks(chunks * panelChunks) { thread, item in
            let uc = item / panelChunks, pc = item % panelChunks
            let u0 = uc * chunk
            body(thread, u0, min(units, u0 + chunk), pc * panels / panelChunks, (pc + 1) * panels / panelChunks)
        }
    }

    private func run(_ step: Step, batch: Int) {
        let isa = self.isa, scratch = self.scratch, mr = instructionSet.blocking.mr
        switch step {
        case let .gemm(s):
            let g = s.geometry
            let input = pointer(s.input)
            let outputs = s.members.map { pointer($0.output) }
            let params = parameters.pointer
            split(units: batch * g.oh * g.ow, granule: mr, panels: s.panels) { thread, r0, r1, q0, q1 in
                var first = 0  // the members' panels side by side: member m owns [first, first + panels)
                for (m, member) in s.members.enumerated() {
                    let p0 = max(q0, first) - first, p1 = min(q1, first + member.panels) - first
                    first += member.panels
                    if p0 >= p1 { continue }
                    var d = hs_conv_desc(
                        input: input, in_stride: s.input.stride, h: Int32(g.h), w: Int32(g.w), cin: Int32(g.cin),
                        kh: Int32(g.kh), kw: Int32(g.kw), stride: Int32(g.stride), pad_top: Int32(g.padTop),
                        pad_left: Int32(g.padLeft), oh: Int32(g.oh), ow: Int32(g.ow), packed: params + member.packed,
                        n: Int32(member.n),
                        epilogue: hs_epilogue(bias: member.bias.map { UnsafePointer(params + $0) }, relu: member.bias == nil ? 0 : 1),
                        output: outputs[m], out_stride: member.output.stride)
                    hs_conv_forward(isa, &d, r0, r1, Int32(p0), Int32(p1), scratch[thread])
                }
            }
        case let .winograd(s) where s.oneDimensional:
            var d = winograd1DDescriptor(s)
            d.input = UnsafePointer(pointer(s.input))
            d.output = pointer(s.member.output)
            split(units: batch * hs_winograd1d_lines(&d), granule: 1, panels: s.member.panels) { thread, l0, l1, p0, p1 in
                var desc = d
                hs_winograd1d_forward(isa, &desc, l0, l1, Int32(p0), Int32(p1), scratch[thread])
            }
        case let .winograd(s):
            var d = winogradDescriptor(s)
            d.input = UnsafePointer(pointer(s.input))
            d.output = pointer(s.member.output)
            split(units: batch * hs_winograd_tiles(&d), granule: mr, panels: s.member.panels, sharedWork: true) { thread, t0, t1, p0, p1 in
                var desc = d
                hs_winograd_forward(isa, &desc, t0, t1, Int32(p0), Int32(p1), scratch[thread])
            }
        case let .maxPool(input, output, c, h, w, oh, ow):
            let inp = UnsafePointer(pointer(input)), out = pointer(output)
            pool.parallelFor(batch * oh, chunk: max(1, (batch * oh + 2 * threads - 1) / (2 * threads))) { _, l0, l1 in
                hs_maxpool3x3s2(isa, out, output.stride, inp, input.stride, Int32(c), Int32(h), Int32(w), Int32(oh), Int32(ow), l0, l1)
            }
        case let .avgPool(input, output, c, h, w, bias):
            let inp = UnsafePointer(pointer(input)), out = pointer(output)
            let b = bias.map { UnsafePointer(parameters.pointer + $0) }
            pool.parallelFor(batch * h, chunk: max(1, (batch * h + 2 * threads - 1) / (2 * threads))) { _, l0, l1 in
                hs_avgpool3x3same(isa, out, output.stride, inp, input.stride, Int32(c), Int32(h), Int32(w), b, l0, l1)
            }
        }
    }

    /// The C descriptor of a one-dimensional Winograd step (input and output pointers filled in at run time).
    private func winograd1DDescriptor(_ s: WinogradStep) -> hs_winograd1d_desc {
        let g = s.geometry
        let alongX = g.kh == 1
        return hs_winograd1d_desc(
            input: nil, in_stride: s.input.stride, h: Int32(g.h), w: Int32(g.w), cin: Int32(g.cin),
            axis: alongX ? 0 : 1, k: Int32(max(g.kh, g.kw)), pad: Int32(alongX ? g.padLeft : g.padTop),
            packed_u: parameters.pointer + s.member.packed, n: Int32(s.member.n),
            epilogue: hs_epilogue(bias: s.member.bias.map { UnsafePointer(parameters.pointer + $0) }, relu: 1),
            output: nil, out_stride: s.member.output.stride)
    }

    /// The C descriptor of a Winograd step (input and output pointers filled in at run time).
    private func winogradDescriptor(_ s: WinogradStep) -> hs_winograd_desc {
        let g = s.geometry
        return hs_winograd_desc(
            input: nil, in_stride: s.input.stride, h: Int32(g.h), w: Int32(g.w), cin: Int32(g.cin),
            r: Int32(g.kh), pad_top: Int32(g.padTop), pad_left: Int32(g.padLeft), oh: Int32(g.oh), ow: Int32(g.ow),
            packed_u: parameters.pointer + s.member.packed, n: Int32(s.member.n),
            epilogue: hs_epilogue(bias: s.member.bias.map { UnsafePointer(parameters.pointer + $0) }, relu: 1),
            output: nil, out_stride: s.member.output.stride)
    }
}
