import Extract
import Foundation

/// A small generated two-class image set for the offline demo, laid out as Keras flow_from_directory expects:
/// `train/{discs,stripes}` and `validation/{discs,stripes}`. Discs are bright filled circles on a dark
/// background; stripes are bands at an angle. Position, size, colour and angle come from a seed, so the set is
/// the same on every machine. The images are labelled as generated: they exist so the whole pipeline can run
/// where the real data cannot be downloaded.
public enum DemoData {
    public static let classes = ["discs", "stripes"]

    /// Writes `perClass.train` + `perClass.validation` PNGs of `size`×`size` per class under `root`.
    /// Returns the number of files written (files already present are left as they are).
    @discardableResult
    public static func generate(into root: URL, seed: UInt64 = 1, train: Int = 48, validation: Int = 16,
                                size: Int = 150) throws -> Int {
        var written = 0
        for (split, count) in [("train", train), ("validation", validation)] {
            for (c, name) in classes.enumerated() {
                let dir = root.appendingPathComponent(split).appendingPathComponent(name)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for i in 0..<count {
                    let file = dir.appendingPathComponent(String(format: "%@-%03d.png", name, i))
                    if FileManager.default.fileExists(atPath: file.path) { continue }
                    let stream = UInt64(split == "train" ? 0 : 1) << 32 | UInt64(c) << 16 | UInt64(i)
                    let image = c == 0 ? disc(seed: seed, stream: stream, size: size) : stripes(seed: seed, stream: stream, size: size)
                    try ImageEncoder.writePNG(image, to: file.path)
                    written += 1
                }
            }
        }
        return written
    }

    /// Uniform in [0, 1) from (seed, stream, j).
    private static func u(_ seed: UInt64, _ stream: UInt64, _ j: Int) -> Double {
        Double(SeededWeights.bits(seed, 9000 &+ stream, j) >> 11) / Double(1 << 53)
    }

    private static func colour(_ seed: UInt64, _ stream: UInt64, _ j: Int, low: Double, high: Double) -> [Double] {
        (0..<3).map { low + (high - low) * u(seed, stream, j + $0) }
    }

    static func disc(seed: UInt64, stream: UInt64, size: Int) -> RGBImage {
        let s = Double(size)
        let r = s * (0.15 + 0.2 * u(seed, stream, 0))
        let cx = r + (s - 2 * r) * u(seed, stream, 1), cy = r + (s - 2 * r) * u(seed, stream, 2)
        let fg = colour(seed, stream, 3, low: 150, high: 255), bg = colour(seed, stream, 6, low: 0, high: 90)
        return render(size, fg: fg, bg: bg, noise: (seed, stream)) { x, y in
            let d = ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot()
            return max(0, min(1, r + 0.5 - d))  // antialiased edge
        }
    }

    static func stripes(seed: UInt64, stream: UInt64, size: Int) -> RGBImage {
        let angle = Double.pi * u(seed, stream, 0)
        let period = 12 + 20 * u(seed, stream, 1)
        let phase = period * u(seed, stream, 2)
        let fg = colour(seed, stream, 3, low: 150, high: 255), bg = colour(seed, stream, 6, low: 0, high: 90)
        let (c, s) = (cos(angle), sin(angle))
        return render(size, fg: fg, bg: bg, noise: (seed, stream)) { x, y in
            let t = (x * c + y * s + phase).truncatingRemainder(dividingBy: period)
            return (t < 0 ? t + period : t) < period / 2 ? 1 : 0
        }
    }

    /// Blends fg over bg by `coverage(x, y)` and adds ±8 of pixel noise.
    private static func render(_ size: Int, fg: [Double], bg: [Double], noise: (UInt64, UInt64),
                               _ coverage: (Double, Double) -> Double) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                let a = coverage(Double(x) + 0.5, Double(y) + 0.5)
                for ch in 0..<3 {
                    let n = 16 * u(noise.0, noise.1 &+ 0x1000, (y * size + x) * 3 + ch) - 8
                    let v = a * fg[ch] + (1 - a) * bg[ch] + n
                    pixels[(y * size + x) * 3 + ch] = UInt8(max(0, min(255, v.rounded())))
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }
}
