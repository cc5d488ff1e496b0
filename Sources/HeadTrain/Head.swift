import Foundation
import Numerics

/// The head's shape: Flatten → Dense(hidden, relu) → Dropout(dropout) → Dense(outputs, sigmoid | softmax).
/// Two classes use one sigmoid unit and binary cross-entropy (label 1 is the positive class); more use C
/// softmax units and categorical cross-entropy.
public struct HeadConfig: Equatable, Codable, Sendable {
    /// Flattened feature length F (7·7·768 = 37,632 for InceptionV3 cut at mixed7).
    public var featureCount: Int
    public var hidden: Int
    public var classes: Int
    /// Dropout rate p in [0, 1); 0 leaves the Dropout layer out.
    public var dropout: Float

    public init(featureCount: Int, hidden: Int = Recipe.book.hidden, classes: Int = 2, dropout: Float = Recipe.book.dropout) {
        self.featureCount = featureCount
        self.hidden = hidden
        self.classes = classes
        self.dropout = dropout
    }

    /// Output units: 1 for two classes (sigmoid), C for more (softmax).
    public var outputs: Int { classes == 2 ? 1 : classes }
    public var isBinary: Bool { classes == 2 }

    /// The most weights a head may have: 2^31 (8 GiB as float32; the book's head has 38.5 million).
    public static let maxParameters = 1 << 31

    /// Weights of the head (F·H + H + H·O + O), or nil when that overflows.
    public var parameterCount: Int? {
        guard let w1 = checkedProduct(featureCount, hidden), let w2 = checkedProduct(hidden, outputs) else { return nil }
        let (sum, overflow) = w1.addingReportingOverflow(w2 + hidden + outputs)
        return overflow ? nil : sum
    }

    public func validate() throws {
        guard featureCount > 0, hidden > 0 else {
            throw HeadError.invalidConfig("feature count and hidden units must be positive (found \(featureCount), \(hidden))")
        }
        guard classes >= 2 else { throw HeadError.invalidConfig("at least 2 classes are needed (found \(classes))") }
        guard classes <= HeadConfig.maxParameters else { throw HeadError.invalidConfig("\(classes) classes is more than this builds") }
        guard dropout >= 0, dropout < 1 else { throw HeadError.invalidConfig("dropout must be in [0, 1) (found \(dropout))") }
        guard let n = parameterCount, n <= HeadConfig.maxParameters else {
            throw HeadError.invalidConfig("\(featureCount) features × \(hidden) hidden units need \(parameterCount.map(String.init) ?? "more than \(Int.max)") weights, more than the \(HeadConfig.maxParameters) a head may have")
        }
    }
}

public enum HeadError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case shapeMismatch(what: String, expected: [Int], found: [Int])
    case invalidLabel(index: Int, label: Int, classes: Int)
    case featureCountMismatch(expected: Int, found: Int)
    case emptyDataset(String)
    case headFile(path: String, reason: String)
    /// A NaN or an infinity where training needs numbers: the loss, a validation loss, or the weights.
    case notFinite(String)
    /// More memory than the machine has.
    case tooLarge(what: String, bytes: Int, available: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let s): return "invalid head configuration: \(s)"
        case let .shapeMismatch(what, e, f): return "\(what): expected shape \(e), found \(f)"
        case let .invalidLabel(i, l, c): return "sample \(i): label \(l) is outside 0..<\(c)"
        case let .featureCountMismatch(e, f): return "features: the head expects \(e) values per sample, the source has \(f)"
        case .emptyDataset(let s): return "\(s) has no samples"
        case let .headFile(p, r): return "\(p): \(r)"
        case .notFinite(let s): return "training stopped: \(s); nothing was saved from it (a learning rate too high for these features?)"
        case let .tooLarge(what, bytes, available):
            return String(format: "%@ needs %.1f GiB, more than this machine's %.1f GiB of memory", what,
                          Double(bytes) / Double(1 << 30), Double(available) / Double(1 << 30))
        }
    }
}

/// a · b, or nil when it overflows.
func checkedProduct(_ a: Int, _ b: Int) -> Int? {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? nil : p
}

/// Refuses an allocation larger than the machine's memory before it is made: past it, allocating fails (a trap)
/// or the kernel's OOM killer ends the process partway.
func checkMemory(_ bytes: Int, _ what: String) throws {
    let available = Int(clamping: ProcessInfo.processInfo.physicalMemory)
    guard bytes <= available else { throw HeadError.tooLarge(what: what, bytes: bytes, available: available) }
}

/// Where each tensor lives inside one flat parameter (or gradient, or RMSprop velocity) allocation:
///     [ w1 : F×H | b1 : H | w2 : H×O | b2 : O ]
/// w1 starts at 0 and every later tensor at a multiple of 16 floats, so all are 64-byte aligned.
public struct ParameterLayout: Equatable, Sendable {
    public let F: Int, H: Int, O: Int
    public let w1: Int, b1: Int, w2: Int, b2: Int, total: Int

    public init(_ c: HeadConfig) {
        F = c.featureCount; H = c.hidden; O = c.outputs
        func up(_ x: Int) -> Int { (x + 15) & ~15 }
        w1 = 0
        b1 = up(F * H)
        w2 = b1 + up(H)
        b2 = w2 + up(H * O)
        total = b2 + up(O)
    }
}

/// A dense head's parameters in Keras's layouts: kernel1 (F, H), bias1 (H), kernel2 (H, O), bias2 (O).
public final class Head {
    public let config: HeadConfig
    public let layout: ParameterLayout
    let storage: AlignedFloats

    public var w1: UnsafeMutablePointer<Float> { storage.pointer + layout.w1 }
    public var b1: UnsafeMutablePointer<Float> { storage.pointer + layout.b1 }
    public var w2: UnsafeMutablePointer<Float> { storage.pointer + layout.w2 }
    public var b2: UnsafeMutablePointer<Float> { storage.pointer + layout.b2 }

    /// Zero parameters.
    public init(config: HeadConfig) throws {
        try config.validate()
        self.config = config
        layout = ParameterLayout(config)
        try checkMemory(layout.total * MemoryLayout<Float>.stride, "a head of \(config.featureCount) × \(config.hidden)")
        storage = AlignedFloats(count: layout.total)
    }

    /// Keras's default initialisation with headstart's generator: glorot_uniform kernels, zero biases.
    /// Kernel k (1 or 2) of shape (fanIn, fanOut) gets, element i in row-major order,
    ///     w[i] = (2·u_i − 1) · limit,  limit = Float(√(6 / (fanIn + fanOut)))  (square root in Double)
    /// with u_i the i-th uniform of the stream `SplitMix64.streamKey(seed:, tag: .kernel1/.kernel2)`; the
    /// product is rounded to float32 once (2u − 1 is exact). The values are not Keras's (its generator differs);
    /// parity tests start both sides from the same file or the same formula instead.
    public convenience init(config: HeadConfig, seed: UInt64) throws {
        try self.init(config: config)
        Head.glorotUniform(w1, fanIn: layout.F, fanOut: layout.H, key: SplitMix64.streamKey(seed: seed, tag: .kernel1))
        Head.glorotUniform(w2, fanIn: layout.H, fanOut: layout.O, key: SplitMix64.streamKey(seed: seed, tag: .kernel2))
    }

    /// Parameters from Keras-layout arrays.
    public convenience init(config: HeadConfig, kernel1: [Float], bias1: [Float], kernel2: [Float], bias2: [Float]) throws {
        try self.init(config: config)
        let l = layout
        func check(_ a: [Float], _ shape: [Int], _ what: String) throws {
            guard a.count == shape.reduce(1, *) else {
                throw HeadError.shapeMismatch(what: what, expected: shape, found: [a.count])
            }
        }
        try check(kernel1, [l.F, l.H], "dense kernel")
        try check(bias1, [l.H], "dense bias")
        try check(kernel2, [l.H, l.O], "dense_1 kernel")
        try check(bias2, [l.O], "dense_1 bias")
        kernel1.withUnsafeBufferPointer { w1.update(from: $0.baseAddress!, count: $0.count) }
        bias1.withUnsafeBufferPointer { b1.update(from: $0.baseAddress!, count: $0.count) }
        kernel2.withUnsafeBufferPointer { w2.update(from: $0.baseAddress!, count: $0.count) }
        bias2.withUnsafeBufferPointer { b2.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// w[i] = (2u − 1)·limit with u element i of the stream `key`. The stream is counter-based, so the two
    /// halves are drawn on two threads (element i's generator starts at key + i·γ) with the same values as
    /// one sequential pass: the 38.5 M weights of the book's head take half the time.
    public static func glorotUniform(_ w: UnsafeMutablePointer<Float>, fanIn: Int, fanOut: Int, key: UInt64) {
        let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
        let n = fanIn * fanOut, parts = n >= 1 << 20 ? 2 : 1
        DispatchQueue.concurrentPerform(iterations: parts) { t in
            let start = n * t / parts, end = n * (t + 1) / parts
            var rng = SplitMix64(key: key &+ UInt64(start) &* 0x9E37_79B9_7F4A_7C15)
            for i in start..<end { w[i] = (2 * rng.nextUniform() - 1) * limit }
        }
    }

    public var kernel1: [Float] { Array(UnsafeBufferPointer(start: w1, count: layout.F * layout.H)) }
    public var bias1: [Float] { Array(UnsafeBufferPointer(start: b1, count: layout.H)) }
    public var kernel2: [Float] { Array(UnsafeBufferPointer(start: w2, count: layout.H * layout.O)) }
    public var bias2: [Float] { Array(UnsafeBufferPointer(start: b2, count: layout.O)) }

    /// A deep copy (for checkpoints of the best epoch).
    public func copy() -> Head {
        let h = try! Head(config: config)
        h.storage.pointer.update(from: storage.pointer, count: layout.total)
        return h
    }
}
