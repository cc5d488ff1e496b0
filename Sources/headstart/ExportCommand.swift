import ArgumentParser
import Foundation
import Pipeline
import Store

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a feature cache as NumPy files, for training elsewhere.",
        discussion: """
        Writes, in index order (paths sorted by Unicode code point), one row per indexed image:
          features.npy  float32 (N, H, W, C) — (N, 7, 7, 768) for mixed7 at 150 (f16 caches are widened exactly)
          labels.npy    int32 (N,) class ids; classes.txt has the class names, one a line, in label order
          splits.npy    uint8 (N,) 0 = train, 1 = validation
          paths.txt     the image paths relative to the dataset folder, one a line
        features.npy is written batch by batch, so memory stays small however large the cache is.

        Example:
          headstart export out/hh-cache --out out/hh-numpy
          python -c "import numpy as np; x = np.load('out/hh-numpy/features.npy', mmap_mode='r'); print(x.shape)"
        """)

    @Argument(help: "The cache folder (made by `headstart extract`).")
    var cache: String

    @Option(name: .shortAndLong, help: "Output folder (created if needed; the five files in it are replaced).")
    var out: String

    @Option(help: ArgumentHelp("Only the images of one split.", valueName: "train|validation"))
    var split: Split?

    @OptionGroup var damage: DamageOptions

    func run() throws {
        let s = try Export.run(cache: cache, to: out, split: split, damagePolicy: damage.policy)
        DamageOptions.report(s.damaged)
        let shape = s.featureShape.map(String.init).joined(separator: ", ")
        print("wrote \(out): features.npy float32 (\(shape)), labels.npy, splits.npy, paths.txt, classes.txt; "
              + "\(s.train) train and \(s.validation) validation images, classes \(s.classNames.joined(separator: ", "))")
    }
}
