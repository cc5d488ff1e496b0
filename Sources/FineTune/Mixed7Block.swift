import Extract
import Foundation
import Numerics

/// What can go wrong building or running the fine-tuning core; every case names the unit, layer or setting.
public enum FineTuneError: Error, CustomStringConvertible, Equatable {
    /// The weights have fewer conv2d_bn units than the block needs.
    case missingUnits(expected: Int, found: Int)
    /// A unit's tensor does not have mixed7's shape. `unit` is its index in `InceptionV3Weights.units`
    /// (conv2d_bn call order, 0-based), `layer` its position in mixed7 (1-based, Keras's call order).
    case wrongShape(unit: Int, what: String, expected: [Int], found: [Int])
    case invalidSize(String)
    case invalidOption(String)

    public var description: String {
        switch self {
        case let .missingUnits(e, f):
            return "mixed7 needs conv2d_bn units \(Mixed7Block.firstUnit)..<\(Mixed7Block.firstUnit + Mixed7Block.unitCount) of InceptionV3 (\(e) in all), the weights have \(f)"
        case let .wrongShape(u, what, e, f):
            return "conv2d_bn unit \(u) (mixed7's convolution \(u - Mixed7Block.firstUnit + 1) of \(Mixed7Block.unitCount)): \(what) has shape \(f), expected \(e)"
        case .invalidSize(let s): return "fine-tuning: \(s)"
        case .invalidOption(let s): return "fine-tuning: \(s)"
        }
    }
}

/// InceptionV3's `mixed7` (inceptionC with 192 channels) over a batch of cached `mixed6` activations, with its
/// ten convolution kernels and BatchNorm betas trainable and BatchNorm in inference mode (moving statistics
/// frozen), as Keras runs it when the base is called with `training=False`:
///
///     branch1x1    = u0: 1×1 768→192                                          → out[..., 0:192]
///     branch7x7    = u1: 1×1 768→192 → u2: 1×7 → u3: 7×1                        → out[..., 192:384]
///     branch7x7dbl = u4: 1×1 768→192 → u5: 7×1 → u6: 1×7 → u7: 7×1 → u8: 1×7      → out[..., 384:576]
///     branchPool   = avgpool3×3 same → u9: 1×1 768→192                          → out[..., 576:768]
///
/// each u = conv (no bias) → BatchNorm (no gamma, ε 1e-3) → ReLU, in `conv2d_bn` call order
/// (`InceptionV3Weights.units[60..<70]`).
///
/// Parameters live in one flat buffer, [k0 | … | k9 | β0 | … | β9] (each tensor 16-float aligned), and the
/// gradients in another of the same layout, so an optimiser updates them in one pass. `threads` threads share
/// the samples of a batch; everything is allocated once for up to `capacity` samples.
public final class Mixed7Block {
    public static let firstUnit = 60
    public static let unitCount = 10
    /// (kh, kw, cin, cout) of mixed7's ten units in call order.
    public static let kernelShapes: [[Int]] = [
        [1, 1, 768, 192],
        [1, 1, 768, 192], [1, 7, 192, 192], [7, 1, 192, 192],
        [1, 1, 768, 192], [7, 1, 192, 192], [1, 7, 192, 192], [7, 1, 192, 192], [1, 7, 192, 192],
        [1, 1, 768, 192],
    ]
    /// Where each unit reads: the block input, the pooled input, or the unit before it.
    enum Source { case input, pooled, unit(Int) }
    static let sources: [Source] = [.input, .input, .unit(1), .unit(2), .input, .unit(4), .unit(5), .unit(6), .unit(7), .pooled]
    /// The units whose outputs are concatenated, in order, and their channel offsets in the block output.
    static let outputs: [(unit: Int, offset: Int)] = [(0, 0), (3, 192), (8, 384), (9, 576)]

    public static let inputChannels = 768
    public static let outputChannels = 768

    public let capacity: Int
    public let height: Int, width: Int
    public let threads: Int
    /// Float counts of one sample's input and output (H·W·768 each).
    public var inputCount: Int { height * width * Self.inputChannels }
    public var outputCount: Int { height * width * Self.outputChannels }

    /// The units as given (moving statistics read from them; kernels and betas are the buffer's).
    let original: [ConvBNParameters]
    /// Offsets of kernel i and beta i in `parameters` / `gradients`.
    public let kernelOffsets: [Int], betaOffsets: [Int]
    public let parameterCount: Int
    /// [k0 … k9 | β0 … β9], and ∂L/∂ of the same in the same layout (overwritten by every `backward`).
    public let parameters: AlignedFloats
    public let gradients: AlignedFloats

    // Frozen per-unit BatchNorm data: scale s = 1/√(var + ε), mean; shift = β − mean·s recomputed per forward.
    let scale: AlignedFloats, mean: AlignedFloats, shift: AlignedFloats
    /// Per unit: its output y[B,H,W,192] after BatchNorm and ReLU, and for 7-tap convolutions the im2col of
    /// its input as the forward left it (the backward's weight gradient reads it).
    let activations: [AlignedFloats]
    let cols: [AlignedFloats?]
    let pooled: AlignedFloats
    /// Backward scratch: two gradients w.r.t. unit outputs (they alternate down a branch), dz, and dcol.
    let dyA: AlignedFloats, dyB: AlignedFloats, dz: AlignedFloats, dcol: AlignedFloats
    /// dcol's row length: the widest im2col row (7·192).
    let widestColumn: Int
    /// The gradients of threads 1, 2, … (thread 0 writes `gradients`), in the parameters' layout.
    let partialGradients: [AlignedFloats]
    /// The batch size of the last forward (the backward runs on it).
    var forwardBatch = 0

    /// Mixed7 from `weights.units[60..<70]`.
    public convenience init(weights: InceptionV3Weights, capacity: Int, height: Int = 7, width: Int = 7, threads: Int = 2) throws {
        let end = Self.firstUnit + Self.unitCount
        guard weights.units.count >= end else { throw FineTuneError.missingUnits(expected: end, found: weights.units.count) }
        try self.init(units: Array(weights.units[Self.firstUnit..<end]), capacity: capacity, height: height, width: width,
                      threads: threads)
    }

    /// Mixed7 from its ten units in conv2d_bn call order; every shape is checked, naming the unit that differs.
    public init(units: [ConvBNParameters], capacity: Int, height: Int = 7, width: Int = 7, threads: Int = 2) throws {
        guard units.count == Self.unitCount else {
            throw FineTuneError.missingUnits(expected: Self.firstUnit + Self.unitCount, found: Self.firstUnit + units.count)
        }
        for (i, u) in units.enumerated() {
            let shape = Self.kernelShapes[i], oc = shape[3], index = Self.firstUnit + i
            if u.kernelShape != shape {
                throw FineTuneError.wrongShape(unit: index, what: "kernel", expected: shape, found: u.kernelShape)
            }
            if u.kernel.count != shape.reduce(1, *) {
                throw FineTuneError.wrongShape(unit: index, what: "kernel values", expected: [shape.reduce(1, *)], found: [u.kernel.count])
            }
            for (what, v) in [("beta", u.beta), ("moving mean", u.movingMean), ("moving variance", u.movingVariance)] where v.count != oc {
                throw FineTuneError.wrongShape(unit: index, what: what, expected: [oc], found: [v.count])
            }
        }
        guard capacity >= 1 else { throw FineTuneError.invalidSize("a batch capacity of \(capacity); at least 1 is needed") }
        guard height >= 1, width >= 1 else { throw FineTuneError.invalidSize("a spatial size of \(height)×\(width)") }
        self.capacity = capacity
        self.height = height; self.width = width
        self.threads = max(1, threads)
        original = units

        func up(_ n: Int) -> Int { (n + 15) & ~15 }
        var offset = 0, ko: [Int] = [], bo: [Int] = []
        for s in Self.kernelShapes { ko.append(offset); offset += up(s.reduce(1, *)) }
        for s in Self.kernelShapes { bo.append(offset); offset += up(s[3]) }
        kernelOffsets = ko; betaOffsets = bo; parameterCount = offset
        let p = AlignedFloats(count: offset)
        let C = 192, statistics = Self.unitCount * C
        let s = AlignedFloats(count: statistics), mu = AlignedFloats(count: statistics)
        for (i, u) in units.enumerated() {
            u.kernel.withUnsafeBufferPointer { (p.pointer + ko[i]).update(from: $0.baseAddress!, count: $0.count) }
            u.beta.withUnsafeBufferPointer { (p.pointer + bo[i]).update(from: $0.baseAddress!, count: $0.count) }
            u.movingVariance.withUnsafeBufferPointer { batchnorm_scale(s.pointer + i * C, $0.baseAddress!, C: C) }
            u.movingMean.withUnsafeBufferPointer { (mu.pointer + i * C).update(from: $0.baseAddress!, count: C) }
        }
        parameters = p
        gradients = AlignedFloats(count: offset)
        scale = s; mean = mu; shift = AlignedFloats(count: statistics)

        let M = capacity * height * width
        activations = Self.kernelShapes.map { AlignedFloats(count: M * $0[3]) }
        cols = Self.kernelShapes.map { $0[0] * $0[1] > 1 ? AlignedFloats(count: M * $0[0] * $0[1] * $0[2]) : nil }
        pooled = AlignedFloats(count: M * Self.inputChannels)
        let widest = Self.kernelShapes.map { $0[0] * $0[1] * $0[2] }.max()!
        dyA = AlignedFloats(count: M * C); dyB = AlignedFloats(count: M * C); dz = AlignedFloats(count: M * C)
        dcol = AlignedFloats(count: M * widest)
        widestColumn = widest
        partialGradients = (1..<max(self.threads, 1)).map { _ in AlignedFloats(count: offset) }
    }

    public func kernel(_ i: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + kernelOffsets[i] }
    public func beta(_ i: Int) -> UnsafeMutablePointer<Float> { parameters.pointer + betaOffsets[i] }
    public func kernelGradient(_ i: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + kernelOffsets[i] }
    public func betaGradient(_ i: Int) -> UnsafeMutablePointer<Float> { gradients.pointer + betaOffsets[i] }

    /// The ten units with the current kernels and betas, moving statistics as given.
    public func units() -> [ConvBNParameters] {
        original.enumerated().map { i, u in
            var t = u
            t.kernel = Array(UnsafeBufferPointer(start: kernel(i), count: u.kernel.count))
            t.beta = Array(UnsafeBufferPointer(start: beta(i), count: u.beta.count))
            return t
        }
    }

    /// The input unit i reads (B·H·W rows of its cin channels).
    func unitInput(_ i: Int, _ input: UnsafePointer<Float>) -> UnsafePointer<Float> {
        switch Self.sources[i] {
        case .input: return input
        case .pooled: return UnsafePointer(pooled.pointer)
        case .unit(let j): return UnsafePointer(activations[j].pointer)
        }
    }

    /// Contiguous sample ranges, one per thread that has samples.
    func sampleRanges(_ B: Int) -> [Range<Int>] {
        let n = min(threads, B)
        return (0..<n).map { (B * $0 / n)..<(B * ($0 + 1) / n) }
    }

    /// output[B,H,W,768] (mixed7) from input[B,H,W,768] (mixed6); keeps what `backward` needs. The samples are
    /// split into one contiguous range per thread, each running the whole block on its rows with a
    /// single-threaded OpenBLAS (a sample's result depends on the split only by OpenBLAS's rounding; the same
    /// batch and thread count give the same bits).
    public func forward(input: UnsafePointer<Float>, B: Int, output: UnsafeMutablePointer<Float>) {
        precondition(B >= 1 && B <= capacity, "batch \(B) outside 1...\(capacity)")
        let C = 192
        for i in 0..<Self.unitCount {
            batchnorm_shift(shift.pointer + i * C, beta(i), mean.pointer + i * C, scale.pointer + i * C, C: C)
        }
        BLASThreads.set(1)
        let parts = sampleRanges(B)
        parallelFor(parts.count) { t in forward(samples: parts[t], input: input, output: output) }
        forwardBatch = B
    }

    /// The block on samples r of the batch: rows r.lowerBound·H·W ..< r.upperBound·H·W of every buffer.
    func forward(samples r: Range<Int>, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let H = height, W = width, HW = H * W, n = r.count, first = r.lowerBound * HW, M = n * HW, C = 192
        let cin = Self.inputChannels
        avgpool3x3same_forward(pooled.pointer + first * cin, outStride: cin, input + first * cin, inStride: cin, c: cin,
                               h: H, w: W, bias: nil, lines: 0, n * H)
        for i in 0..<Self.unitCount {
            let s = Self.kernelShapes[i], y = activations[i].pointer + first * s[3]
            let col = cols[i].map { $0.pointer + first * s[0] * s[1] * s[2] }
            conv2d_forward(y, col, unitInput(i, input) + first * s[2], kernel(i), B: n, H: H, W: W, C: s[2], OC: s[3], KH: s[0], KW: s[1])
            batchnorm_relu_forward(y, y, scale.pointer + i * C, shift.pointer + i * C, M: M, C: C)
        }
        for (unit, offset) in Self.outputs {
            concat_forward(output + first * Self.outputChannels, activations[unit].pointer + first * C, M: M, C: C, offset: offset,
                           OC: Self.outputChannels)
        }
    }

    /// Fills `gradients` (every kernel and beta) from dOutput[B,H,W,768] = ∂L/∂mixed7 for the batch of the last
    /// `forward`, whose `input` (unchanged since) it is given again, with the parameters that forward used. No
    /// gradient w.r.t. the block input (the frozen cache): input gradients are computed only between units
    /// inside a branch. Each thread takes the samples it had in the forward and writes its own gradient buffer
    /// (the first thread `gradients`); the others are then added in thread order, so the sums are deterministic.
    public func backward(input: UnsafePointer<Float>, dOutput: UnsafePointer<Float>) {
        let B = forwardBatch
        precondition(B >= 1, "backward before any forward")
        BLASThreads.set(1)
        let parts = sampleRanges(B)
        parallelFor(parts.count) { t in
            backward(samples: parts[t], input: input, dOutput: dOutput, into: t == 0 ? gradients.pointer : partialGradients[t - 1].pointer)
        }
        let g = gradients.pointer
        for t in 1..<max(parts.count, 1) {
            let p = partialGradients[t - 1].pointer
            for k in 0..<parameterCount { g[k] += p[k] }
        }
    }

    /// ∂L/∂θ of samples r into `grads` (the parameters' layout, overwritten).
    func backward(samples r: Range<Int>, input: UnsafePointer<Float>, dOutput: UnsafePointer<Float>, into grads: UnsafeMutablePointer<Float>) {
        let H = height, W = width, HW = H * W, n = r.count, first = r.lowerBound * HW, M = n * HW, C = 192
        let dz = self.dz.pointer + first * C, dcol = self.dcol.pointer + first * widestColumn
        // Each branch from its output unit down to the unit that reads the block input.
        for (top, offset) in Self.outputs {
            var i = top
            var dy = dyA.pointer + first * C, spare = dyB.pointer + first * C
            concat_backward(dy, dOutput + first * Self.outputChannels, M: M, C: C, offset: offset, OC: Self.outputChannels)
            while true {
                let s = Self.kernelShapes[i]
                batchnorm_relu_backward(dz, grads + betaOffsets[i], dy, activations[i].pointer + first * C, scale.pointer + i * C, M: M, C: C)
                var below: Int?
                if case .unit(let j) = Self.sources[i] { below = j }
                let colOrInput = cols[i].map { UnsafePointer($0.pointer + first * s[0] * s[1] * s[2]) }
                    ?? unitInput(i, input) + first * s[2]
                conv2d_backward(below == nil ? nil : spare, grads + kernelOffsets[i], dcol, dz, colOrInput, kernel(i),
                                B: n, H: H, W: W, C: s[2], OC: s[3], KH: s[0], KW: s[1])
                guard let j = below else { break }
                swap(&dy, &spare)
                i = j
            }
        }
    }
}
