import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Extract
import Fetch
import HeadTrain
import Pipeline
import Store
import XCTest

/// Stage two over a cache: training, its files, and evaluation, on a small synthetic cache whose two classes
/// differ in the mean of their features (so a head can learn them).
final class HeadTrainingTests: XCTestCase {
    let shape = [2, 2, 8]

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// 40 train + 16 validation records; class 1's features are shifted up by 1.
    func makeCache(at dir: URL, weights: String = String(repeating: "cd", count: 32)) throws -> String {
        let path = dir.appendingPathComponent("cache").path
        let fp = CacheFingerprint(weightsSHA256: weights, weightsName: "seeded.h5", layer: "mixed7", inputSize: [150, 150],
                                  resize: "nearest", preprocess: "rescale", dtype: .f32, featureShape: shape)
        let cache = try FeatureCache(path: path, fingerprint: fp)
        try cache.setClassNames(["cats", "dogs"])
        var batch = Batch()
        let n = shape.reduce(1, *)
        for i in 0..<56 {
            let label = i % 2
            let key = ContentKey.of(Data("sample-\(i)".utf8))
            let values = (0..<n).map { j in Float(label) + 0.5 * Float(sin(Double(i * 31 + j * 7))) }
            batch.records.append(PendingRecord(key: key, values: values))
            batch.entries.append(IndexEntry(path: String(format: "%@/%@/%03d.png", i < 40 ? "train" : "validation", label == 0 ? "cats" : "dogs", i),
                                            key: key, label: Int32(label), split: i < 40 ? .train : .validation,
                                            fileSize: 1, modificationTimeNanoseconds: 1))
        }
        try cache.commit(batch: batch)
        return path
    }

    func testTrainingLowersTheLossAndSavesAHeadWithItsProvenance() throws {
        let dir = try temporary()
        var job = HeadTrainingJob(cache: try makeCache(at: dir), out: dir.appendingPathComponent("head.h5").path)
        job.options = TrainingOptions(epochs: 15, batchSize: 8, learningRate: 1e-2, seed: 3)
        job.hidden = 16
        var logs: [EpochLog] = []
        let result = try HeadTraining.run(job) { logs.append($0) }
        XCTAssertEqual(logs.count, 15)
        XCTAssertEqual(result.trainCount, 40)
        XCTAssertEqual(result.validationCount, 16)
        XCTAssertLessThan(logs.last!.loss, logs.first!.loss)
        XCTAssertGreaterThanOrEqual(logs.last!.valAccuracy!, 0.9)
        let saved = try HeadFile.load(path: job.out)
        XCTAssertEqual(saved.head.config.featureCount, 32)
        let provenance = try HeadProvenance(metadata: saved.metadata, source: job.out)
        XCTAssertEqual(provenance.classNames, ["cats", "dogs"])
        XCTAssertEqual(provenance.weightsSHA256, String(repeating: "cd", count: 32))
        XCTAssertEqual(provenance.settings.size, 150)
    }

    func testTheWeightsOriginTheCacheRecordedReachesTheHeadFileTheHistoryAndTheEvaluation() throws {
        let dir = try temporary()
        let cachePath = try makeCache(at: dir)
        try FeatureCache(path: cachePath, fingerprint: nil).setWeightsOrigin("seeded seed=7 generator=1")
        var job = HeadTrainingJob(cache: cachePath, out: dir.appendingPathComponent("head.h5").path)
        job.options = TrainingOptions(epochs: 1, batchSize: 8, seed: 1)
        job.hidden = 4
        let result = try HeadTraining.run(job)
        let seeded = WeightsOrigin.seeded(seed: 7, generatorVersion: 1)
        XCTAssertEqual(try HeadFile.load(path: job.out).metadata["weights_origin"], "seeded seed=7 generator=1")
        XCTAssertEqual(try HeadProvenance(metadata: HeadFile.load(path: job.out).metadata, source: job.out).weightsOrigin, seeded)
        XCTAssertTrue(TrainingReport.csv(result.history, weights: result.provenance.weightsOrigin)
            .hasSuffix(",seeded seed=7 generator=1\n"))
        let report = try HeadEvaluation.run(cache: cachePath, head: job.out)
        XCTAssertEqual(report.weightsOrigin, "seeded seed=7 generator=1")
        XCTAssertEqual(report.weightsWarning, seeded.warning)
    }

    func testATensorBoardFolderGetsOneEventPerEpochInTrainAndValidation() throws {
        let dir = try temporary()
        var job = HeadTrainingJob(cache: try makeCache(at: dir), out: dir.appendingPathComponent("head.h5").path)
        job.options = TrainingOptions(epochs: 3, batchSize: 8, seed: 1)
        job.hidden = 4
        job.tensorboard = dir.appendingPathComponent("tb").path
        try HeadTraining.run(job)
        for run in ["train", "validation"] {
            let folder = dir.appendingPathComponent("tb/\(run)")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("events.out.tfevents.") }
            XCTAssertEqual(files.count, 1, run)
            // TFRecords: u64 length, u32 CRC, data, u32 CRC. The file-version event, then one per epoch.
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(files[0])))
            var records = 0, offset = 0
            while offset + 12 <= bytes.count {
                let length = (0..<8).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
                offset += 12 + length + 4
                records += 1
            }
            XCTAssertEqual(offset, bytes.count, run)
            XCTAssertEqual(records, 1 + 3, run)
        }
    }

    func testACacheWithoutARecordedOriginIsSaidToBeUnrecorded() throws {
        let dir = try temporary()
        let cache = try FeatureCache(path: try makeCache(at: dir), fingerprint: nil)
        XCTAssertEqual(try HeadProvenance(cache: cache).weightsOrigin, .unrecorded)
    }

    func testTheSameSeedTrainsTheSameHead() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        var a = HeadTrainingJob(cache: cache, out: dir.appendingPathComponent("a.h5").path)
        a.options = TrainingOptions(epochs: 3, batchSize: 8, learningRate: 1e-3, seed: 5)
        a.hidden = 8
        var b = a
        b.out = dir.appendingPathComponent("b.h5").path
        let ra = try HeadTraining.run(a), rb = try HeadTraining.run(b)
        XCTAssertEqual(ra.history.epochs.map(\.loss), rb.history.epochs.map(\.loss))
        XCTAssertEqual(try HeadFile.load(path: a.out).head.kernel1, try HeadFile.load(path: b.out).head.kernel1)
    }

    func testTheCatalogueDownloadsTheFileWeightsOriginRecognisesAsKerass() {
        XCTAssertEqual(Catalogue.inceptionV3NoTopWeights.checksum, .md5(WeightsOrigin.kerasNoTopMD5))
    }

    func testHistoryCSVHasOneRowPerEpochWithKerasColumns() throws {
        let dir = try temporary()
        var job = HeadTrainingJob(cache: try makeCache(at: dir), out: dir.appendingPathComponent("h.h5").path)
        job.options = TrainingOptions(epochs: 2, batchSize: 8, seed: 1)
        job.hidden = 4
        let result = try HeadTraining.run(job)
        let csv = TrainingReport.csv(result.history, weights: result.provenance.weightsOrigin).split(separator: "\n")
        XCTAssertEqual(csv.first, "epoch,loss,accuracy,val_loss,val_accuracy,seconds,weights")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[1].hasPrefix("1,"))
        XCTAssertEqual(csv[2].split(separator: ",").count, 7)
    }

    func testThePlotIsAnSVGWithTrainingAndValidationCurvesInBothPanels() throws {
        var history = TrainingHistory()
        for e in 1...4 {
            history.epochs.append(EpochLog(epoch: e, loss: 1 / Double(e), accuracy: 0.5 + 0.1 * Double(e),
                                           valLoss: 1.2 / Double(e), valAccuracy: 0.45 + 0.1 * Double(e), seconds: 1))
        }
        let svg = TrainingReport.svg(history, title: "a <b> & c")
        let doc = try XMLDocument(xmlString: svg)
        XCTAssertEqual(doc.rootElement()?.name, "svg")
        XCTAssertEqual(try doc.nodes(forXPath: "//*[local-name()='polyline']").count, 4)
        XCTAssertTrue(svg.contains("a &lt;b&gt; &amp; c"))
        let points = svg.components(separatedBy: "points=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        XCTAssertEqual(points.map { $0.split(separator: " ").count }, [4, 4, 4, 4], "one point per epoch on each curve")
    }

    func history(losses: [Double]) -> TrainingHistory {
        var h = TrainingHistory()
        for (i, loss) in losses.enumerated() {
            h.epochs.append(EpochLog(epoch: i + 1, loss: loss, accuracy: 0.5, valLoss: loss * 1.1, valAccuracy: 0.5, seconds: 1))
        }
        return h
    }

    func texts(_ svg: String, class name: String) throws -> [String] {
        try XMLDocument(xmlString: svg).nodes(forXPath: "//*[local-name()='text'][@class='\(name)']").map { $0.stringValue ?? "" }
    }

    func testEveryEpochHasATickOnBothPanelsUpToTwelveEpochs() throws {
        let svg = TrainingReport.svg(history(losses: (1...12).map { 1 - 0.05 * Double($0) }), title: "t")
        XCTAssertEqual(try texts(svg, class: "x-tick"), (1...12).map(String.init) + (1...12).map(String.init))
    }

    func testLongRunsTickEveryTwoFiveOrTenEpochs() throws {
        XCTAssertEqual([1, 12, 13, 24, 25, 60, 61, 120, 121, 600].map { TrainingReport.epochTickStep(epochs: $0) },
                       [1, 1, 2, 2, 5, 5, 10, 10, 20, 50])
        let svg = TrainingReport.svg(history(losses: (1...40).map { 1 / Double($0) }), title: "t")
        XCTAssertEqual(try texts(svg, class: "x-tick").prefix(9), ["1", "5", "10", "15", "20", "25", "30", "35", "40"])
    }

    func testAWideLossRangeGetsALogAxisInWholeDecades() throws {
        let svg = TrainingReport.svg(history(losses: [8, 0.5, 0.09, 0.02]), title: "t")
        XCTAssertTrue(svg.contains(">loss (log scale)</text>"), svg)
        // Losses 0.02 … 8.8 (val = 1.1 × loss): decades 0.01 to 10; the accuracy panel stays linear.
        XCTAssertEqual(try texts(svg, class: "y-tick").suffix(4), ["0.01", "0.1", "1", "10"])
        XCTAssertFalse(svg.contains(">accuracy (log scale)"))
    }

    func testALossRangeOfManyDecadesLabelsAtMostNineOfThem() throws {
        let svg = TrainingReport.svg(history(losses: [300, 1, 1e-9, 3e-17]), title: "t")
        // 3e-17 … 330: decades 1e-17 to 1e+03, labelled every 3rd down from the top.
        XCTAssertEqual(try texts(svg, class: "y-tick").suffix(8), ["1e-18", "1e-15", "1e-12", "1e-09", "1e-06", "0.001", "1", "1e+03"])
    }

    func testANarrowLossRangeKeepsALinearAxis() throws {
        let svg = TrainingReport.svg(history(losses: [0.7, 0.6, 0.5, 0.4]), title: "t")
        XCTAssertFalse(svg.contains("log scale"), svg)
    }

    func testEvaluationReportsTheMistakesByFile() throws {
        let dir = try temporary()
        let cache = try makeCache(at: dir)
        var job = HeadTrainingJob(cache: cache, out: dir.appendingPathComponent("h.h5").path)
        job.options = TrainingOptions(epochs: 1, batchSize: 8, learningRate: 1e-6, seed: 1)
        job.hidden = 4
        try HeadTraining.run(job)
        let r = try HeadEvaluation.run(cache: cache, head: job.out)
        XCTAssertEqual(r.count, 16)
        XCTAssertEqual(r.classes, ["cats", "dogs"])
        XCTAssertEqual(r.confusion.flatMap { $0 }.reduce(0, +), 16)
        XCTAssertEqual(r.misclassified.count, 16 - Int((r.accuracy * 16).rounded()))
        for m in r.misclassified { XCTAssertTrue(m.path.hasPrefix("validation/"), m.path); XCTAssertNotEqual(m.label, m.predicted) }
    }

    func testAHeadFromOtherWeightsIsRefusedByEvaluate() throws {
        let dir = try temporary(), other = try temporary()
        var job = HeadTrainingJob(cache: try makeCache(at: dir), out: dir.appendingPathComponent("h.h5").path)
        job.options = TrainingOptions(epochs: 1, batchSize: 8, seed: 1)
        job.hidden = 4
        try HeadTraining.run(job)
        let otherCache = try makeCache(at: other, weights: String(repeating: "ef", count: 32))
        XCTAssertThrowsError(try HeadEvaluation.run(cache: otherCache, head: job.out)) { error in
            XCTAssertTrue("\(error)".contains("does not fit the cache"), "\(error)")
            XCTAssertTrue("\(error)".contains("weights: head trained on seeded.h5 (cdcdcdcdcdcd…)"), "\(error)")
        }
    }
}
