// Pixel preprocessing into float32 NHWC batches, matching Keras on a float32 image array.
// Each mode is a function of the byte value alone, so it is tabulated once (256 floats) and applied by lookup;
// the table entries are computed with the same float32 operations Keras performs.

public enum PreprocessMode: String, CaseIterable, Sendable {
    /// `ImageDataGenerator(rescale=1./255)`: `x *= rescale` on a float32 array, i.e. x * Float(1.0 / 255.0)
    /// (numpy casts the Python float to float32 first). This is not x / 255: they differ in the last bit for
    /// some values.
    case rescale
    /// InceptionV3 `preprocess_input` (imagenet_utils mode 'tf'): `x /= 127.5; x -= 1.` in float32.
    case inception

    /// The preprocessed value of one byte.
    public func value(_ byte: UInt8) -> Float {
        switch self {
        case .rescale: return Float(byte) * Float(1.0 / 255.0)
        case .inception: return Float(byte) / Float(127.5) - Float(1.0)
        }
    }

    /// value(b) for b in 0...255.
    public var table: [Float] {
        switch self {
        case .rescale: return ImagePreprocess.rescaleTable
        case .inception: return ImagePreprocess.inceptionTable
        }
    }
}

public enum ImagePreprocess {
    static let rescaleTable: [Float] = (0...255).map { PreprocessMode.rescale.value(UInt8($0)) }
    static let inceptionTable: [Float] = (0...255).map { PreprocessMode.inception.value(UInt8($0)) }

    /// Writes `image` preprocessed into slot `slot` of a caller-owned NHWC batch.
    /// batch is (N, image.height, image.width, 3) float32, row-major; slot n occupies
    /// [n * H * W * 3, (n + 1) * H * W * 3). Allocates nothing.
    public static func write(_ image: RGBImage, mode: PreprocessMode,
                             into batch: UnsafeMutableBufferPointer<Float>, slot: Int) {
        let count = image.width * image.height * 3
        precondition(slot >= 0 && (slot + 1) * count <= batch.count,
                     "batch of \(batch.count) floats has no slot \(slot) for a \(image.height)x\(image.width)x3 image")
        let table = mode == .rescale ? rescaleTable : inceptionTable
        let base = batch.baseAddress! + slot * count
        table.withUnsafeBufferPointer { lut in
            image.pixels.withUnsafeBufferPointer { px in
                for i in 0..<count { base[i] = lut[Int(px[i])] }
            }
        }
    }

    /// A fresh (1, H, W, 3) array; convenience for tests and one-off use.
    public static func preprocessed(_ image: RGBImage, mode: PreprocessMode) -> [Float] {
        var out = [Float](repeating: 0, count: image.width * image.height * 3)
        out.withUnsafeMutableBufferPointer { write(image, mode: mode, into: $0, slot: 0) }
        return out
    }
}
