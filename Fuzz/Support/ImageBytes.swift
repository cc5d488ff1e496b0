// What every image target checks: the bytes end in a decoded image (then both Keras resizes run on it) or an
// ImageError; a trap, an ASan report or a hang is a bug. The pixel limit is lowered so that a header claiming a
// big image costs little time; the checks are the same ones that guard the default limit.
import Extract

func checkImageBytes(_ data: UnsafePointer<UInt8>, _ size: Int) {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    do {
        let decoded = try ImageDecoder.decode(data: bytes, name: "fuzz", pixelLimit: 1 << 20)
        let image = decoded.image
        precondition(image.width > 0 && image.height > 0 && image.pixels.count == image.width * image.height * 3)
        for method in ResizeMethod.allCases {
            let r = ImageResize.resize(image, height: 75, width: 75, method: method)
            precondition(r.pixels.count == 75 * 75 * 3)
        }
    } catch is ImageError {
    } catch {
        preconditionFailure("not an ImageError: \(error)")
    }
}

/// Whether `data` starts with one of `prefixes`: the format targets skip other inputs at once, so that libFuzzer's
/// mutations stay inside the one decoder they exercise.
func startsWithAny(_ data: UnsafePointer<UInt8>, _ size: Int, _ prefixes: [[UInt8]]) -> Bool {
    prefixes.contains { p in size >= p.count && p.indices.allSatisfy { data[$0] == p[$0] } }
}
