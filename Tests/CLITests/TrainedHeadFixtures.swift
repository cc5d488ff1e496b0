import Extract
import Foundation
import HeadTrain
import Numerics
import Pipeline
import XCTest

/// Heads saved as `headstart train` saves them (HeadFile + HeadProvenance metadata), for the seeded weights file
/// of the Keras parity fixtures, without training: the commands under test only read them.
enum TrainedHeadFixtures {
    static let featureShape = [7, 7, 768]
    static var featureCount: Int { featureShape.reduce(1, *) }

    /// The provenance `headstart train` records for features of `weights` made with the book's settings.
    static func provenance(weights: String, classNames: [String] = ["horses", "humans"],
                           settings: ExtractionSettings = ExtractionSettings()) throws -> HeadProvenance {
        HeadProvenance(weightsSHA256: try SHA256Hasher.digest(fileAt: weights).hex,
                       weightsName: URL(fileURLWithPath: weights).lastPathComponent,
                       settings: settings, classNames: classNames, featureShape: featureShape,
                       weightsOrigin: .other)
    }

    /// A glorot-initialised head (hidden 32 keeps the file small: 4.8 MB) whose second kernel is scaled so the
    /// logits of the fixture images stay within a few units of 0 — outputs on the sigmoid's slope, where a
    /// parity comparison means something — saved with provenance for `weights`.
    @discardableResult
    static func write(classes: Int = 2, dropout: Float = 0, hidden: Int = 32, seed: UInt64 = 11, weights: String,
                      classNames: [String]? = nil, to path: String) throws -> Head {
        let head = try makeHead(classes: classes, dropout: dropout, hidden: hidden, seed: seed)
        let names = classNames ?? (classes == 2 ? ["horses", "humans"] : (0..<classes).map { "class\($0)" })
        try HeadFile.save(head, to: path, metadata: try provenance(weights: weights, classNames: names).metadata)
        return head
    }

    static func makeHead(classes: Int = 2, dropout: Float = 0, hidden: Int = 32, seed: UInt64 = 11) throws -> Head {
        let head = try Head(config: HeadConfig(featureCount: featureCount, hidden: hidden, classes: classes, dropout: dropout),
                            seed: seed)
        for i in 0..<(head.layout.H * head.layout.O) { head.w2[i] *= outputScale }
        for i in 0..<head.layout.O { head.b2[i] = Float(i) * 0.25 - 0.1 }
        return head
    }

    /// A model as `headstart finetune` saves it, without training: mixed7's units of `weights` with each kernel value
    /// scaled by 1 ± 0.5 and each beta moved by up to 0.1 (moving statistics kept), and a head as `write` makes it;
    /// the provenance of a `--layer mixed6` cache of `weights`.
    @discardableResult
    static func writeFineTuned(weights: String, to path: String) throws -> (head: Head, block: [ConvBNParameters]) {
        let base = try BaseWeights.load(path: weights, cut: .mixed7)
        let block = FineTunedModel.units.map { c in
            var u = base.units[c]
            u.kernel = u.kernel.enumerated().map { j, w in w * (1 + 0.5 * sin(Float(j % 97 + c))) }
            u.beta = u.beta.enumerated().map { k, b in b + 0.1 * cos(Float(k + c)) }
            return u
        }
        let head = try makeHead()
        try FineTunedModel.save(head: head, block: block, provenance: try provenance(weights: weights, settings: ExtractionSettings(layer: .mixed6)),
                                to: path)
        return (head, block)
    }

    static let outputScale: Float = 0.05

    /// The fixture images (with Keras's mixed7 for each in `Tests/Fixtures/keras/mixed7-<k>.npy`).
    static let images = ["keras/image0-horse-rgba.png", "keras/image1-human-rgb-q90.jpg", "keras/image2-horse-gray.png"]

    /// Keras's mixed7 features of `images`, (3, 7, 7, 768) flattened.
    static func kerasFeatures() throws -> [Float] {
        try (0..<3).flatMap { try NPY.read(CLI.fixture("keras/mixed7-\($0).npy")).floats }
    }

    /// A Python with keras, h5py and tensorflow: $HEADSTART_PYTHON, the venv beside the repository, /work/venv.
    static func pythonWithKeras() throws -> URL {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["HEADSTART_PYTHON"] { candidates.append(URL(fileURLWithPath: env)) }
        candidates.append(CLI.repositoryRoot.deletingLastPathComponent().appendingPathComponent("venv/bin/python"))
        candidates.append(URL(fileURLWithPath: "/work/venv/bin/python"))
        for python in candidates where FileManager.default.isExecutableFile(atPath: python.path) {
            if (try? runProcess(python, ["-c", "import keras, h5py, tensorflow"]).status) == 0 { return python }
        }
        throw XCTSkip("no Python with keras, h5py and tensorflow found (set HEADSTART_PYTHON); Keras side not checked")
    }

    /// Runs Python quietly (TensorFlow's start-up logging off).
    static func runProcess(_ executable: URL, _ arguments: [String]) throws -> CLI.Result {
        var env = ProcessInfo.processInfo.environment
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        return try CLI.process(executable, arguments, environment: env)
    }
}
