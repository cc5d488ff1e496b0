import Numerics

/// InceptionV3 weights generated from a seed (docs/seeded-weights.md, generator version 1), for tests and the
/// offline demo: He-uniform kernels, and BatchNorm statistics calibrated on a fixed batch so that, as in a
/// trained network, different images give clearly different features. `Tools/keras-reference/seeded_weights.py`
/// implements the same specification; kernels and betas agree bit for bit.
public enum SeededWeights {
    public static let generatorVersion = 1

    // MARK: Random numbers (wrapping uint64 arithmetic)

    /// The splitmix64 finaliser (`SplitMix64.mix`, Numerics), as docs/seeded-weights.md names it.
    @inline(__always)
    public static func mix64(_ z: UInt64) -> UInt64 { SplitMix64.mix(z) }

    @inline(__always)
    public static func bits(_ seed: UInt64, _ stream: UInt64, _ j: Int) -> UInt64 {
        mix64(mix64(seed ^ stream) &+ UInt64(j))
    }

    /// Uniform in [−1, 1), a multiple of 2^-23, exact in float32.
    @inline(__always)
    public static func unit(_ seed: UInt64, _ stream: UInt64, _ j: Int) -> Float {
        Float(Int64(bits(seed, stream, j) >> 40) - (1 << 23)) / Float(1 << 23)
    }

    // MARK: Layers

    /// Kernel shapes (kh, kw, cin, cout) of the 94 convolutions, by conv2d_bn call position.
    public static var kernelShapes: [[Int]] {
        inceptionV3Graph(height: 299, width: 299, cut: .mixed10).convs.map(\.kernelShape)
    }

    /// Streams are numbered in weights-file (`model.layers`) order: conv `c` is the c-th Conv2D of the file and
    /// BN `b` the b-th BatchNormalization. These map a call position to those numbers.
    public static var fileOrderOfConv: [Int] { fileOrder { if case let .conv(i) = $0 { return i } else { return nil } } }
    public static var fileOrderOfBatchNorm: [Int] { fileOrder { if case let .batchNorm(i) = $0 { return i } else { return nil } } }

    private static func fileOrder(_ pick: (KerasModelLayer.Kind) -> Int?) -> [Int] {
        let calls = KerasOrder.weightedLayers().compactMap { pick($0.kind) }
        var position = [Int](repeating: 0, count: calls.count)
        for (p, call) in calls.enumerated() { position[call] = p }
        return position
    }

    /// Conv `c`'s kernel: unit(seed, 1000 + c, j) · float32(√(6 / fan_in)).
    public static func kernel(seed: UInt64, conv c: Int, shape: [Int]) -> [Float] {
        let scale = Float((6.0 / Double(shape[0] * shape[1] * shape[2])).squareRoot())
        return (0..<shape.reduce(1, *)).map { unit(seed, 1000 + UInt64(c), $0) * scale }
    }

    /// BN `b`'s beta: unit(seed, 2000 + b, j) · float32(0.2).
    public static func beta(seed: UInt64, bn b: Int, count: Int) -> [Float] {
        (0..<count).map { unit(seed, 2000 + UInt64(b), $0) * Float(0.2) }
    }

    /// The four 150×150 calibration images, (4, 150, 150, 3) uint8, integer arithmetic only.
    public static func calibrationImages(seed: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 4 * 150 * 150 * 3)
        for i in 0..<4 {
            for y in 0..<150 {
                for x in 0..<150 {
                    for c in 0..<3 {
                        let g = ((c == 0 ? x : c == 1 ? y : (x + y) / 2) * 255) / 149
                        let n = Int(bits(seed, 5000 + UInt64(i), ((y / 10) * 15 + (x / 10)) * 3 + c) >> 56)
                        out[((i * 150 + y) * 150 + x) * 3 + c] = UInt8((g + n) / 2)
                    }
                }
            }
        }
        return out
    }

    /// All 94 units (by call position) with He kernels and BatchNorm calibrated by Swift on the calibration batch.
    public static func generate(seed: UInt64) -> [ConvBNParameters] {
        let convOrder = fileOrderOfConv, bnOrder = fileOrderOfBatchNorm
        var units = kernelShapes.enumerated().map { call, shape in
            ConvBNParameters(kernel: kernel(seed: seed, conv: convOrder[call], shape: shape), kernelShape: shape,
                             beta: [], movingMean: [], movingVariance: [])
        }
        let scale = Float(1.0 / 255.0)
        let input = calibrationImages(seed: seed).map { Float($0) * scale }
        _ = ReferenceNetwork.forward(input, batch: 4, height: 150, width: 150, cut: .mixed10, weights: &units) { call, stats in
            let n = stats.mean.count
            let b = bnOrder[call]
            let beta = beta(seed: seed, bn: b, count: n)
            let mean = (0..<n).map { j in
                Float(stats.mean[j] + Double(unit(seed, 3000 + UInt64(b), j)) * 0.1 * stats.variance[j].squareRoot())
            }
            let variance = (0..<n).map { j in
                Float(stats.variance[j] * (1 + 0.2 * Double(unit(seed, 4000 + UInt64(b), j))))
            }
            return (beta, mean, variance)
        }
        return units
    }

    /// All 94 units (by call position) with kernels from the seed and BatchNorm parameters given as
    /// (3, total channels): rows beta, moving_mean, moving_variance, the channels of all BN layers concatenated
    /// in file order — the layout of the committed `bn-params.npy` produced by the Keras script.
    public static func generate(seed: UInt64, batchNorm: [Float]) -> [ConvBNParameters] {
        let shapes = kernelShapes
        let convOrder = fileOrderOfConv, bnOrder = fileOrderOfBatchNorm
        let total = shapes.reduce(0) { $0 + $1[3] }
        precondition(batchNorm.count == 3 * total, "batch-norm parameters must be (3, \(total))")
        // Offsets of each BN's channels, in file order.
        var offsetOfBN = [Int](repeating: 0, count: shapes.count)
        var callOfBN = [Int](repeating: 0, count: shapes.count)
        for (call, b) in bnOrder.enumerated() { callOfBN[b] = call }
        var running = 0
        for b in 0..<shapes.count { offsetOfBN[b] = running; running += shapes[callOfBN[b]][3] }
        return shapes.enumerated().map { call, shape in
            let n = shape[3]
            let offset = offsetOfBN[bnOrder[call]]
            return ConvBNParameters(
                kernel: kernel(seed: seed, conv: convOrder[call], shape: shape), kernelShape: shape,
                beta: Array(batchNorm[offset..<(offset + n)]),
                movingMean: Array(batchNorm[(total + offset)..<(total + offset + n)]),
                movingVariance: Array(batchNorm[(2 * total + offset)..<(2 * total + offset + n)]))
        }
    }
}
