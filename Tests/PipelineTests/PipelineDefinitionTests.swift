import Extract
import FineTune
import HeadTrain
import Foundation
import Pipeline
import Store
import XCTest

/// Pipeline files: what they say, what they leave to the book's defaults, and what they get wrong.
final class PipelineDefinitionTests: XCTestCase {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-pipeline-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testTheHorsesOrHumansPipelineHoldsTheBooksSettings() throws {
        let path = repositoryRoot.appendingPathComponent("pipelines/horses-or-humans.yaml").path
        let p = try PipelineDefinition.load(path: path)
        XCTAssertEqual(p.extractionSettings, ExtractionSettings(layer: .mixed7, size: 150, resize: .nearest, preprocess: .rescale))
        XCTAssertEqual(p.train?.epochs, 40)
        XCTAssertEqual(p.train?.batch, 20)
        XCTAssertEqual(p.train?.lr, 1e-4)
        XCTAssertEqual(p.train?.hidden, 1024)
    }

    func testEveryShippedPipelineLoads() throws {
        for name in ["horses-or-humans", "horses-or-humans-finetune", "cats-vs-dogs", "cats-vs-dogs-full", "demo"] {
            let path = repositoryRoot.appendingPathComponent("pipelines/\(name).yaml").path
            // Loading decodes extract's layer, resize, preprocess and dtype into their enums, or throws.
            let p = try PipelineDefinition.load(path: path)
            XCTAssertEqual(p.name, name)
        }
    }

    func testAFinetuneSectionBecomesAJobStartingFromTheTrainedHead() throws {
        let p = try PipelineDefinition.load(path: try write("""
        cache: c
        train:
          epochs: 5
          seed: 3
        finetune:
          batch: 8
          optimizer: sgd
          momentum: 0.5
          lr: 1.0e-3
        """))
        XCTAssertEqual(p.fineTuningCache("c"), "c-mixed6")
        let job = p.fineTuningJob(cache: "c-mixed6", weights: "w.h5", out: "m.h5", initialHead: "head.h5", augmentViews: true)
        XCTAssertEqual(job.options.epochs, 5, "train:'s epochs where finetune: is silent")
        XCTAssertEqual(job.options.batchSize, 8)
        XCTAssertEqual(job.options.seed, 3)
        XCTAssertEqual(job.options.optimizer, .sgd(learningRate: 1e-3, momentum: 0.5))
        XCTAssertEqual(job.initialHead, "head.h5")
        XCTAssertTrue(job.augmentViews)
    }

    func testAFinetuneSectionDefaultsToRMSpropAtTheFineTuningRate() throws {
        let p = try PipelineDefinition.load(path: try write("cache: c\nfinetune:\n  cache: other\n"))
        XCTAssertEqual(p.fineTuningCache("c"), "other")
        let job = p.fineTuningJob(cache: "other", weights: "w.h5", out: "m.h5", initialHead: "head.h5", augmentViews: false)
        XCTAssertEqual(job.options.optimizer, .rmsprop(RMSpropConfig(learningRate: 1e-5)))
    }

    func testFinetuneSettingsThatCannotWorkAreRefusedNamingTheKey() throws {
        for (text, message) in [
            ("finetune:\n  momentum: 0.9\n", "finetune.momentum 0.9 must be from 0 to 1, with optimizer: sgd"),
            ("finetune:\n  optimizer: adam\n", "finetune.optimizer 'adam' is not rmsprop or sgd"),
            ("finetune:\n  lr: -1\n", "finetune.lr"),
            ("finetune:\n  epochs: 0\n", "finetune.epochs"),
            ("finetune:\n  batchsize: 4\n", "unknown key 'batchsize' in finetune:"),
            ("extract:\n  layer: mixed6\nfinetune:\n  epochs: 1\n", "finetune: retrains mixed7 from the head trained on mixed7, but extract: layer: is mixed6"),
        ] {
            XCTAssertThrowsError(try PipelineDefinition.load(path: try write(text)), text) { e in
                XCTAssertTrue("\(e)".contains(message), "\(e)")
            }
        }
    }

    func testSilentKeysTakeTheBooksDefaults() throws {
        let path = try write("dataset: d\n")
        XCTAssertEqual(try PipelineDefinition.load(path: path).extractionSettings, ExtractionSettings())
        XCTAssertEqual(try PipelineDefinition.load(path: path).featureDType, .f16)
    }

    func testAnUnknownValueIsAnErrorNamingItsKey() throws {
        let path = try write("extract:\n  layer: mixed77\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: path).extractionSettings) { error in
            XCTAssertEqual("\(error)", "\(path): extract.layer 'mixed77' is not one of mixed0, mixed1, mixed2, mixed3, mixed4, mixed5, mixed6, mixed7, mixed8, mixed9, mixed10")
        }
        let dtype = try write("extract:\n  dtype: f64\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: dtype).featureDType) { error in
            XCTAssertEqual("\(error)", "\(dtype): extract.dtype 'f64' is not f16 or f32")
        }
    }

    func testAnUnknownSweepStrategyOrMetricIsRefusedWhenTheFileIsRead() throws {
        let strategy = try write("sweep:\n  strategy: greedy\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: strategy)) { error in
            XCTAssertEqual("\(error)", "\(strategy): sweep.strategy 'greedy' is not one of full, grid, halving")
        }
        let metric = try write("sweep:\n  metric: val_auc\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: metric)) { error in
            XCTAssertEqual("\(error)", "\(metric): sweep.metric 'val_auc' is not one of val_loss, val_acc")
        }
    }

    func testAWronglyTypedValueNamesWhereItIs() throws {
        let path = try write("train:\n  epochs: many\n")
        XCTAssertThrowsError(try PipelineDefinition.load(path: path)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(path): train.epochs"), "\(error)")
        }
    }

    // MARK: strict decoding

    func loadError(_ text: String) throws -> String {
        let path = try write(text)
        do {
            _ = try PipelineDefinition.load(path: path)
            XCTFail("loaded:\n\(text)")
            return ""
        } catch {
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(path + ": "), message)
            return String(message.dropFirst(path.count + 2))
        }
    }

    func testAMisspeltTopLevelKeyIsAnErrorSuggestingTheKnownOne() throws {
        XCTAssertEqual(try loadError("datset: data/horse-or-human\n"),
                       "unknown key 'datset' at the top level; did you mean 'dataset'? (known: augment, cache, dataset, demo, extract, finetune, name, output, sweep, train, weights)")
    }

    func testAMisspeltSectionKeyIsAnErrorNamingItsSection() throws {
        XCTAssertTrue(try loadError("train:\n  epochs: 3\n  learnig_rate: 0.001\n").hasPrefix("unknown key 'learnig_rate' in train: (known: "))
        XCTAssertTrue(try loadError("extract:\n  bacth: 8\n").hasPrefix("unknown key 'bacth' in extract:; did you mean 'batch'?"))
        XCTAssertTrue(try loadError("augment:\n  rotaton: 40\n").hasPrefix("unknown key 'rotaton' in augment:; did you mean 'rotation'?"))
        XCTAssertTrue(try loadError("sweep:\n  strategie: halving\n").hasPrefix("unknown key 'strategie' in sweep:; did you mean 'strategy'?"))
    }

    func testEveryValuePassesTheSameCheckAsItsFlag() throws {
        let cases: [(String, String)] = [
            ("train:\n  lr: 0\n", "train.lr 0.0: expected a finite number above 0"),
            ("train:\n  lr: -1e-3\n", "train.lr -0.001: expected a finite number above 0"),
            ("train:\n  lr: 1e-60\n", "train.lr 1e-60: expected a finite number above 0"),
            ("train:\n  epochs: 0\n", "train.epochs 0: expected an integer from 1 to 1000000"),
            ("train:\n  batch: 0\n", "train.batch 0: expected an integer from 1 to 1048576"),
            ("train:\n  hidden: 2000000000\n", "train.hidden 2000000000: expected an integer from 1 to 16777216"),
            ("train:\n  dropout: 1\n", "train.dropout 1.0: expected a number in [0, 1)"),
            ("train:\n  early_stop: 0\n", "train.early_stop 0: expected an integer from 1 to 1000000"),
            ("extract:\n  limit: -1\n", "extract.limit -1: expected an integer of at least 1"),
            ("extract:\n  batch: 1000000\n", "extract.batch 1000000: expected an integer from 1 to 1024"),
            ("extract:\n  size: 100000\n", "extract.size 100000: expected an integer from 75 to 2048"),
            ("extract:\n  validation_split: 1\n", "extract.validation_split 1.0: expected a number in [0, 1)"),
            ("augment:\n  views: 70000\n", "augment.views 70000: expected an integer from 0 to 65534"),
            ("sweep:\n  keep: 1.5\n", "sweep.keep 1.5: expected a number in (0, 1)"),
            ("sweep:\n  hidden: [512, 0]\n", "sweep.hidden 0: expected an integer from 1 to 16777216"),
            ("sweep:\n  lr: \"1e-4:inf\"\n", "sweep.lr inf: expected a finite number above 0"),
            ("sweep:\n  seed: [-1]\n", "sweep.seed -1: expected an integer from 0 to 9007199254740992"),
        ]
        for (text, expected) in cases { XCTAssertEqual(try loadError(text), expected, text) }
    }

    func testTheSameValueIsRefusedByTheFlag() throws {
        XCTAssertThrowsError(try Setting.learningRate.checkFlag(0)) { XCTAssertEqual("\($0)", "--lr 0.0: expected a finite number above 0") }
        XCTAssertThrowsError(try Setting.trainBatch.checkFlag(0)) { XCTAssertEqual("\($0)", "--batch 0: expected an integer from 1 to 1048576") }
        XCTAssertThrowsError(try Setting.limit.checkFlag(-1)) { XCTAssertEqual("\($0)", "--limit -1: expected an integer of at least 1") }
    }

    func testDeeplyNestedYAMLIsRefusedBeforeAnyRecursion() throws {
        let deep = "train: " + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "\n"
        XCTAssertEqual(try loadError(deep), "line 1: nested more than 16 deep; a pipeline file is a few flat sections")
    }

    func testATopLevelThatIsNotAMappingIsRefused() throws {
        XCTAssertTrue(try loadError("- a\n- b\n").hasPrefix("the top level is not a mapping"))
    }
}
