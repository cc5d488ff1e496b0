import ArgumentParser
import Extract

extension FillMode: ExpressibleByArgument {}

/// `--flip`: which random flips (Keras horizontal_flip and vertical_flip).
enum FlipChoice: String, CaseIterable, ExpressibleByArgument {
    case none, horizontal, vertical, both
    var horizontal: Bool { self == .horizontal || self == .both }
    var vertical: Bool { self == .vertical || self == .both }
}

/// Keras ImageDataGenerator's augmentation settings, with its names and units.
struct AugmentOptions: ParsableArguments {
    @Option(help: "Rotation range in degrees (Keras rotation_range).")
    var rotation: Double = 0
    @Option(help: "Horizontal shift as a fraction of the width (Keras width_shift_range).")
    var widthShift: Double = 0
    @Option(help: "Vertical shift as a fraction of the height (Keras height_shift_range).")
    var heightShift: Double = 0
    @Option(help: "Shear angle in degrees (Keras shear_range).")
    var shear: Double = 0
    @Option(help: "Zoom range: z draws independent x and y zooms in [1−z, 1+z] (Keras zoom_range).")
    var zoom: Double = 0
    @Option(help: ArgumentHelp("Random flips.", valueName: "none|horizontal|vertical|both"))
    var flip: FlipChoice = .none
    @Option(help: ArgumentHelp("Brightness range, e.g. 0.8:1.2 (Keras brightness_range).", valueName: "low:high"))
    var brightness: String?
    @Option(help: "Channel shift range in pixel units (Keras channel_shift_range).")
    var channelShift: Double = 0
    @Option(help: ArgumentHelp("How points outside the image are filled (Keras fill_mode).", valueName: "nearest|reflect|wrap|constant"))
    var fill: FillMode = .nearest
    @Option(help: "Fill value for --fill constant (Keras cval).")
    var cval: Double = 0
    @Flag(help: "The book's settings: rotation 40, shifts 0.2, shear 0.2, zoom 0.2, horizontal flip, fill nearest.")
    var book = false

    /// The settings when any augmentation flag was given, else nil (the caller then falls back to a pipeline
    /// file or the cache's recorded recipe).
    func givenSettings() throws -> AugmentationSettings? {
        let s = try settings()
        return book || s != .none ? s : nil
    }

    func settings() throws -> AugmentationSettings {
        if book { return .book }
        var range: Interval? = nil
        if let brightness {
            let parts = brightness.split(separator: ":").compactMap { Double($0) }
            guard parts.count == 2 else { throw ValidationError("--brightness takes low:high, e.g. 0.8:1.2.") }
            range = Interval(parts[0], parts[1])
        }
        let s = AugmentationSettings(
            rotation: rotation, widthShift: widthShift, heightShift: heightShift, shear: shear,
            zoom: Interval(zoom: zoom), horizontalFlip: flip.horizontal, verticalFlip: flip.vertical, brightness: range, channelShift: channelShift,
            fill: fill, cval: cval)
        do { try s.validate() } catch { throw ValidationError("\(error)") }
        return s
    }
}
