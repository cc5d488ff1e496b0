import ArgumentParser
import Extract
import Foundation
import Numerics

struct AugmentPreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-preview",
        abstract: "Draw a grid of augmented versions of an image, to see what the settings do.",
        discussion: """
        The first cell is the image as the network sees it (resized to --size); the others are the views that \
        `extract --views` would store for this file with the same settings and seed.

        Example:
          headstart augment-preview horse.png --book --n 16 --out grid.png
        """)

    @Argument(help: "An image file.")
    var image: String

    @OptionGroup var augment: AugmentOptions

    @Option(name: .customLong("n"), help: "Cells in the grid, the original included.")
    var count: Int = 16

    @Option(help: "Cells per row.")
    var columns: Int = 4

    @Option(help: "Size of each cell (the network's input size).")
    var size: Int = 150

    @Option(help: "Seed of the augmentation draws.")
    var seed: UInt64 = 0

    @Option(name: .shortAndLong, help: "Output PNG file.")
    var out: String

    func validate() throws {
        // The grid is count cells of size² pixels: bounded so that it stays an image, not an allocation failure.
        guard (1...1024).contains(count), (1...1024).contains(columns), (8...2048).contains(size) else {
            throw ValidationError("--n and --columns must be from 1 to 1024, --size from 8 to 2048.")
        }
    }

    func run() throws {
        let bytes = try ImageDecoder.readFile(image)
        let decoded = try ImageDecoder.decode(data: bytes, name: image)
        let key = bytes.withUnsafeBytes { SHA256Hasher.digest($0) }
        let grid = AugmentPreview.grid(image: decoded.image, settings: try augment.settings(), seed: seed, key: key,
                                       count: count, columns: columns, height: size, width: size)
        try ImageEncoder.writePNG(grid, to: out)
        print("wrote \(out): \(grid.width)×\(grid.height), \(count) cells (the original and \(count - 1) views)")
    }
}
