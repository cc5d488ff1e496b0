// Augmentation settings and per-view parameters with Keras `ImageDataGenerator` semantics (Keras 3.15,
// keras/src/legacy/preprocessing/image.py). The settings say which ranges parameters are drawn from; a view's
// parameters are drawn from a counter-based generator keyed by (global seed, content key, view), so a view is
// the same whatever the order, sharding or number of views extracted before it.
import Numerics

/// How `applyTransform` fills output pixels whose source falls outside the image: scipy.ndimage's modes,
/// which is what Keras passes through (`fill_mode`).
///   nearest   a a a a | a b c d | d d d d      (edge pixel repeated)
///   reflect   d c b a | a b c d | d c b a      (scipy 'reflect': half-sample symmetric, the edge repeats)
///   wrap      scipy 'wrap' (not 'grid-wrap'): the period is n − 1, so the first and last samples overlap —
///             a coordinate n − 1 + t reads position t. scipy documents this as its historical behaviour.
///   constant  cval outside [0, n − 1]; no interpolation towards cval at the border (scipy 'constant', not
///             'grid-constant').
public enum FillMode: String, Codable, CaseIterable, Sendable {
    case nearest, reflect, wrap, constant
}

/// A closed interval [lower, upper], encoded as a two-element array.
public struct Interval: Codable, Equatable, Sendable, CustomStringConvertible {
    public var lower: Double
    public var upper: Double

    public init(_ lower: Double, _ upper: Double) {
        self.lower = lower
        self.upper = upper
    }

    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        lower = try container.decode(Double.self)
        upper = try container.decode(Double.self)
        if !container.isAtEnd {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "an interval has exactly two numbers")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(lower)
        try container.encode(upper)
    }

    public var description: String { "\(lower):\(upper)" }
}

/// What is wrong with a set of augmentation settings, naming the setting, what was expected and what was found.
public struct AugmentationError: Error, Equatable, CustomStringConvertible, Sendable {
    public var setting: String
    public var expected: String
    public var found: String

    public var description: String { "augmentation setting \(setting): expected \(expected), found \(found)" }
}

/// The random ranges of Keras `ImageDataGenerator(...)`, with the same meaning and units.
/// The book's settings are `AugmentationSettings(rotation: 40, widthShift: 0.2, heightShift: 0.2, shear: 0.2,
/// zoom: .init(zoom: 0.2), horizontalFlip: true, fill: .nearest)`.
public struct AugmentationSettings: Codable, Equatable, Sendable {
    /// `rotation_range`, degrees: theta ~ U(−rotation, rotation).
    public var rotation: Double
    /// `width_shift_range`: ty ~ U(−r, r), times the image width when r < 1 (a fraction), else pixels.
    public var widthShift: Double
    /// `height_shift_range`: tx ~ U(−r, r), times the image height when r < 1, else pixels.
    public var heightShift: Double
    /// `shear_range`, degrees (Keras 3 converts with deg2rad): shear ~ U(−shear, shear).
    public var shear: Double
    /// `zoom_range` as Keras stores it: zx, zy ~ U(lower, upper) independently; [1, 1] means no zoom.
    /// A single number z means [1 − z, 1 + z] (`init(zoom:)`, and in decoded JSON/YAML).
    public var zoom: Interval
    public var horizontalFlip: Bool
    public var verticalFlip: Bool
    /// `brightness_range`: brightness ~ U(lower, upper); nil means no brightness change.
    public var brightness: Interval?
    /// `channel_shift_range`: intensity ~ U(−r, r), added to every channel, clipped to the image's min...max.
    public var channelShift: Double
    public var fill: FillMode
    /// `cval`: the value outside the image for `fill == .constant` (0–255 scale, like the pixels).
    public var cval: Double

    /// Keras `interpolation_order`; only 1 (bilinear) is implemented, as every Keras default uses.
    public static let interpolationOrder = 1
    /// Bumped whenever the drawing of parameters changes, so cached views drawn differently are never reused.
    public static let drawVersion = 1

    public init(rotation: Double = 0, widthShift: Double = 0, heightShift: Double = 0, shear: Double = 0,
                zoom: Interval = Interval(1, 1), horizontalFlip: Bool = false, verticalFlip: Bool = false,
                brightness: Interval? = nil, channelShift: Double = 0, fill: FillMode = .nearest, cval: Double = 0) {
        self.rotation = rotation
        self.widthShift = widthShift
        self.heightShift = heightShift
        self.shear = shear
        self.zoom = zoom
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.brightness = brightness
        self.channelShift = channelShift
        self.fill = fill
        self.cval = cval
    }

    /// No augmentation: every view equals the original.
    public static let none = AugmentationSettings()

    /// The (and the book's) recipe: rotation 40, shifts 0.2, shear 0.2, zoom 0.2, horizontal flip, nearest.
    public static let book = AugmentationSettings(rotation: 40, widthShift: 0.2, heightShift: 0.2, shear: 0.2,
                                                  zoom: Interval(zoom: 0.2), horizontalFlip: true, fill: .nearest)

    /// True when no parameter can differ from the identity.
    public var isIdentity: Bool {
        rotation == 0 && widthShift == 0 && heightShift == 0 && shear == 0 && zoom.lower == 1 && zoom.upper == 1
            && !horizontalFlip && !verticalFlip && brightness == nil && channelShift == 0
    }

    /// Checks every range; the CLI reports the error as is.
    public func validate() throws {
        func check(_ ok: Bool, _ setting: String, _ expected: String, _ found: Any) throws {
            if !ok { throw AugmentationError(setting: setting, expected: expected, found: "\(found)") }
        }
        for (name, value) in [("rotation", rotation), ("width-shift", widthShift), ("height-shift", heightShift),
                              ("shear", shear), ("channel-shift", channelShift)] {
            try check(value.isFinite && value >= 0, name, "a finite number >= 0", value)
        }
        try check(zoom.lower.isFinite && zoom.upper.isFinite && zoom.lower > 0 && zoom.lower <= zoom.upper,
                  "zoom", "0 < lower <= upper (a single z means [1 - z, 1 + z] with 0 <= z < 1)", zoom)
        if let b = brightness {
            try check(b.lower.isFinite && b.upper.isFinite && b.lower >= 0 && b.lower <= b.upper,
                      "brightness", "0 <= lower <= upper", b)
        }
        try check(cval.isFinite, "cval", "a finite number", cval)
    }

    /// A canonical one-line form for the cache fingerprint: every setting in a fixed order, numbers in Swift's
    /// shortest round-trip form, plus the interpolation order and the draw version. Equal settings give equal
    /// strings; any change to a range, the fill, cval or the generator changes it.
    public var canonicalDescription: String {
        var parts = ["augment/v1"]
        parts.append("rotation=\(rotation)")
        parts.append("width_shift=\(widthShift)")
        parts.append("height_shift=\(heightShift)")
        parts.append("shear=\(shear)")
        parts.append("zoom=\(zoom.lower):\(zoom.upper)")
        parts.append("horizontal_flip=\(horizontalFlip)")
        parts.append("vertical_flip=\(verticalFlip)")
        parts.append("brightness=" + (brightness.map { "\($0.lower):\($0.upper)" } ?? "none"))
        parts.append("channel_shift=\(channelShift)")
        parts.append("fill=\(fill.rawValue)")
        parts.append("cval=\(cval)")
        parts.append("order=\(Self.interpolationOrder)")
        parts.append("draw=v\(Self.drawVersion)")
        return parts.joined(separator: " ")
    }

    // MARK: Codable: every key optional (defaults as Keras), zoom as a number or a pair

    enum CodingKeys: String, CodingKey {
        case rotation, widthShift, heightShift, shear, zoom, horizontalFlip, verticalFlip, brightness, channelShift,
             fill, cval
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        rotation = try c.decodeIfPresent(Double.self, forKey: .rotation) ?? 0
        widthShift = try c.decodeIfPresent(Double.self, forKey: .widthShift) ?? 0
        heightShift = try c.decodeIfPresent(Double.self, forKey: .heightShift) ?? 0
        shear = try c.decodeIfPresent(Double.self, forKey: .shear) ?? 0
        if let z = try? c.decode(Double.self, forKey: .zoom) {
            zoom = Interval(zoom: z)
        } else {
            zoom = try c.decodeIfPresent(Interval.self, forKey: .zoom) ?? Interval(1, 1)
        }
        horizontalFlip = try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip) ?? false
        verticalFlip = try c.decodeIfPresent(Bool.self, forKey: .verticalFlip) ?? false
        brightness = try c.decodeIfPresent(Interval.self, forKey: .brightness)
        channelShift = try c.decodeIfPresent(Double.self, forKey: .channelShift) ?? 0
        fill = try c.decodeIfPresent(FillMode.self, forKey: .fill) ?? .nearest
        cval = try c.decodeIfPresent(Double.self, forKey: .cval) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rotation, forKey: .rotation)
        try c.encode(widthShift, forKey: .widthShift)
        try c.encode(heightShift, forKey: .heightShift)
        try c.encode(shear, forKey: .shear)
        try c.encode(zoom, forKey: .zoom)
        try c.encode(horizontalFlip, forKey: .horizontalFlip)
        try c.encode(verticalFlip, forKey: .verticalFlip)
        try c.encodeIfPresent(brightness, forKey: .brightness)
        try c.encode(channelShift, forKey: .channelShift)
        try c.encode(fill, forKey: .fill)
        try c.encode(cval, forKey: .cval)
    }
}

extension Interval {
    /// Keras `zoom_range=z` for a single number: [1 − z, 1 + z].
    public init(zoom z: Double) { self.init(1 - z, 1 + z) }
}

/// One view's transform: the dictionary Keras `get_random_transform` returns, in Keras's names and units.
/// Axis conventions are Keras 3.15's, whatever the names suggest: `tx` is drawn from the *height* shift range
/// (times the image height) but, because `apply_affine_transform` swaps the matrix to (row, col) order, it moves
/// content along the *columns* (tx = +3 moves content 3 pixels left); `ty` moves it along the rows (ty = +3 moves
/// content 3 pixels up). `zx` likewise scales along columns and `zy` along rows (zoom > 1 shows more of the image).
public struct TransformParameters: Codable, Equatable, Sendable {
    public var theta: Double          // degrees
    public var tx: Double             // pixels
    public var ty: Double             // pixels
    public var shear: Double          // degrees
    public var zx: Double
    public var zy: Double
    public var flipHorizontal: Bool
    public var flipVertical: Bool
    public var channelShiftIntensity: Double?
    public var brightness: Double?

    public init(theta: Double = 0, tx: Double = 0, ty: Double = 0, shear: Double = 0, zx: Double = 1, zy: Double = 1,
                flipHorizontal: Bool = false, flipVertical: Bool = false, channelShiftIntensity: Double? = nil,
                brightness: Double? = nil) {
        self.theta = theta
        self.tx = tx
        self.ty = ty
        self.shear = shear
        self.zx = zx
        self.zy = zy
        self.flipHorizontal = flipHorizontal
        self.flipVertical = flipVertical
        self.channelShiftIntensity = channelShiftIntensity
        self.brightness = brightness
    }

    /// The original image (view 0).
    public static let identity = TransformParameters()

    /// True when `apply_affine_transform` builds no matrix (and so copies the image untouched).
    public var affineIsIdentity: Bool { theta == 0 && tx == 0 && ty == 0 && shear == 0 && zx == 1 && zy == 1 }
}

// MARK: Drawing a view's parameters

extension AugmentationSettings {
    /// The generator's state for one view (draw version 1), a function of (seed, key, view) only:
    ///   s = mix64(seed ^ 0x41554731)                         ("AUG1")
    ///   for each 8-byte little-endian word w of key (the last one zero-padded):  s = mix64(s ^ w)
    ///   s = mix64(s ^ UInt64(key.count))
    ///   s = mix64(s ^ UInt64(bitPattern: view))
    /// with `mix64` the splitmix64 finaliser of `SeededWeights.mix64`.
    public static func viewState(seed: UInt64, key: [UInt8], view: Int) -> UInt64 {
        var s = SeededWeights.mix64(seed ^ 0x4155_4731)
        var i = 0
        while i < key.count {
            var word: UInt64 = 0
            for b in 0..<8 where i + b < key.count { word |= UInt64(key[i + b]) << (8 * UInt64(b)) }
            s = SeededWeights.mix64(s ^ word)
            i += 8
        }
        s = SeededWeights.mix64(s ^ UInt64(key.count))
        return SeededWeights.mix64(s ^ UInt64(bitPattern: Int64(view)))
    }

    /// Uniform in [0, 1) with 53 random bits: (mix64(mix64(state) + slot) >> 11) · 2^-53.
    /// Each parameter has its own slot, so turning one range on or off never changes another's draw.
    public static func unit(state: UInt64, slot: Int) -> Double {
        Double(SeededWeights.bits(state, 0, slot) >> 11) * 0x1p-53
    }

    /// Slots: 0 theta, 1 tx (height shift), 2 ty (width shift), 3 shear, 4 zx, 5 zy, 6 horizontal flip,
    /// 7 vertical flip, 8 channel shift, 9 brightness.
    public enum Slot: Int, CaseIterable, Sendable {
        case theta, tx, ty, shear, zx, zy, flipHorizontal, flipVertical, channelShift, brightness
    }

    /// The parameters of view `view` of the image whose content key is `key`, for an image of
    /// `height` x `width` (the size the transform is applied at: after the resize, as Keras).
    ///
    /// View 0 is the original image and always returns `.identity`; views 1, 2, ... are augmented.
    /// Each parameter is drawn as Keras `get_random_transform` draws it (numpy `uniform(low, high)` is
    /// `low + (high − low) · u`), from this generator instead of numpy's global RNG:
    ///   theta = U(−rotation, rotation)                 if rotation != 0, else 0
    ///   tx    = U(−heightShift, heightShift) · height  (· height only when heightShift < 1), if != 0, else 0
    ///   ty    = U(−widthShift, widthShift) · width     (· width only when widthShift < 1),   if != 0, else 0
    ///   shear = U(−shear, shear)                       if shear != 0, else 0
    ///   zx, zy = U(zoom.lower, zoom.upper) each        unless zoom == [1, 1], then 1, 1
    ///   flip  = flag && u < 0.5                        (horizontal, vertical)
    ///   channel shift = U(−r, r) if r != 0, else nil;  brightness = U(lower, upper) if set, else nil
    /// (Keras's integer shift ranges, which draw whole pixels with np.random.choice, are not modelled: a range
    /// >= 1 is drawn uniformly in pixels, as Keras does for a float range.)
    public func draw(seed: UInt64, key: [UInt8], view: Int, height: Int, width: Int) -> TransformParameters {
        if view == 0 { return .identity }
        let state = Self.viewState(seed: seed, key: key, view: view)
        func u(_ slot: Slot) -> Double { Self.unit(state: state, slot: slot.rawValue) }
        func uniform(_ low: Double, _ high: Double, _ slot: Slot) -> Double { low + (high - low) * u(slot) }

        var p = TransformParameters()
        if rotation != 0 { p.theta = uniform(-rotation, rotation, .theta) }
        if heightShift != 0 {
            p.tx = uniform(-heightShift, heightShift, .tx)
            if heightShift < 1 { p.tx *= Double(height) }
        }
        if widthShift != 0 {
            p.ty = uniform(-widthShift, widthShift, .ty)
            if widthShift < 1 { p.ty *= Double(width) }
        }
        if shear != 0 { p.shear = uniform(-shear, shear, .shear) }
        if !(zoom.lower == 1 && zoom.upper == 1) {
            p.zx = uniform(zoom.lower, zoom.upper, .zx)
            p.zy = uniform(zoom.lower, zoom.upper, .zy)
        }
        p.flipHorizontal = horizontalFlip && u(.flipHorizontal) < 0.5
        p.flipVertical = verticalFlip && u(.flipVertical) < 0.5
        if channelShift != 0 { p.channelShiftIntensity = uniform(-channelShift, channelShift, .channelShift) }
        if let b = brightness { p.brightness = uniform(b.lower, b.upper, .brightness) }
        return p
    }
}
