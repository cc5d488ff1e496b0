import ArgumentParser
import Extract
import Foundation
import Pipeline

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify images with a trained head.",
        discussion: """
        Each image is extracted exactly as the head's training features were: the cut layer, input size, resize \
        and preprocessing recorded in HEAD.h5 by `headstart train` (there are deliberately no options for them, \
        so training and prediction cannot be preprocessed differently), with the weights file the head records — \
        a --weights file whose SHA-256 differs is refused. A model from `headstart finetune` (or its export-keras \
        file) is given as --head too: its retrained mixed7 block takes the place of the weights file's mixed7, the \
        layers below stay the file's.

        Per image it prints the predicted class and that class's probability; for a two-class head also the raw \
        sigmoid output, P(second class), as Keras model.predict gives it (at full precision: the book's cat \
        scores 4.98e-24, not 0.000). A directory argument stands for every image below it, sorted. An image that \
        cannot be read is reported with the reason and the others are still predicted; the exit status is then 1.

        Example:
          headstart predict --weights inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5 \\
              --head head.h5 cat.jpg horse.png more-images/
        """)

    @Option(help: "The base weights file the head was trained with (the notop .h5).")
    var weights: String

    @Option(help: "The head, as `headstart train` saved it, or a fine-tuned model from `headstart finetune`.")
    var head: String

    @Flag(help: "Print one JSON document (predictions and failures) instead of lines.")
    var json = false

    @OptionGroup var batch: NetworkBatchOption

    @OptionGroup var threads: ThreadsOption

    @Argument(help: "Image files and directories.")
    var images: [String]

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("Give at least one image or directory.") }
    }

    func run() throws {
        let trained = try TrainedHead.load(path: head)
        // The head records the origin of the weights it was trained on; --weights must be that very file (checked).
        if !json, let warning = trained.provenance.weightsOrigin.warning { warn("WARNING: \(warning)") }
        let paths = try Predictor.imagePaths(images)
        let predictor = try Predictor(trained: trained, weightsPath: weights, batchSize: batch.batch, threads: threads.count)
        var predictions: [ImagePrediction] = []
        var failures: [(path: String, reason: String)] = []
        predictor.predict(paths: paths) { outcome in
            switch outcome {
            case .predicted(let p):
                if json { predictions.append(p) } else { print(Self.line(p)) }
            case let .failed(path, reason):
                failures.append((path, reason))
                if !json { FileHandle.standardError.write(Data("\(path): cannot predict: \(reason)\n".utf8)) }
            }
        }
        if json { print(try Self.document(trained: trained, weights: weights, predictions: predictions, failures: failures)) }
        if !failures.isEmpty {
            FileHandle.standardError.write(Data("\(failures.count) of \(paths.count) image(s) could not be read\n".utf8))
            throw ExitCode(1)
        }
    }

    /// `%.6g`: six significant digits at any magnitude, so 4.98e-24 prints as such.
    static func number(_ x: Double) -> String { String(format: "%.6g", x) }

    /// `path: class (probability p)`, with `; sigmoid output s` for a two-class head.
    static func line(_ p: ImagePrediction) -> String {
        var text = "\(p.path): \(p.className) (probability \(number(p.probability))"
        if p.output.count == 1 { text += "; sigmoid output \(number(Double(p.output[0])))" }
        return text + ")"
    }

    struct Document: Encodable {
        struct Settings: Encodable { var layer: String; var size: Int; var resize: String; var preprocess: String }
        struct Prediction: Encodable {
            var path: String
            var `class`: String
            var class_index: Int
            var probability: Double
            var probabilities: [Double]
            /// Keras model.predict's row: [sigmoid] or the softmax outputs (float32).
            var output: [Float]
        }
        struct Failure: Encodable { var path: String; var reason: String }
        var head: String
        var weights: String
        var weights_sha256: String
        /// `WeightsOrigin.recorded`, and for anything but Keras's ImageNet file the warning in words.
        var weights_origin: String
        var weights_warning: String?
        var classes: [String]
        var settings: Settings
        var predictions: [Prediction]
        var failures: [Failure]
    }

    static func document(trained: TrainedHead, weights: String, predictions: [ImagePrediction],
                         failures: [(path: String, reason: String)]) throws -> String {
        let s = trained.provenance.settings
        let doc = Document(
            head: trained.path, weights: weights, weights_sha256: trained.provenance.weightsSHA256,
            weights_origin: trained.provenance.weightsOrigin.recorded, weights_warning: trained.provenance.weightsOrigin.warning,
            classes: trained.provenance.classNames,
            settings: .init(layer: s.layer.rawValue, size: s.size, resize: s.resize.rawValue, preprocess: s.preprocess.rawValue),
            predictions: predictions.map {
                .init(path: $0.path, class: $0.className, class_index: $0.classIndex, probability: $0.probability,
                      probabilities: $0.probabilities, output: $0.output)
            },
            failures: failures.map { .init(path: $0.path, reason: $0.reason) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(doc), as: UTF8.self)
    }
}
