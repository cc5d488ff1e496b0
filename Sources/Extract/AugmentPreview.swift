// `headstart augment-preview`: a grid of augmented versions of one image, so a user can see what the settings do.

public enum AugmentPreview {
    /// A grid of `count` cells, `columns` per row, row-major: cell 0 is the original resized to
    /// `height` x `width` (as `load_img(target_size=...)`), cell i > 0 is view i of `settings` drawn with
    /// (`seed`, `key`, view i) and applied to that resized image — exactly the views `extract --views` stores
    /// when `key` is the image's content key. Cells are separated by `gap` white pixels; unused cells of the last
    /// row are white. Float results are rounded to the nearest byte for display.
    /// Size: columns·width + (columns − 1)·gap by rows·height + (rows − 1)·gap, rows = ⌈count / columns⌉.
    public static func grid(image: RGBImage, settings: AugmentationSettings, seed: UInt64, key: [UInt8] = [],
                            count: Int, columns: Int, height: Int = 150, width: Int = 150,
                            resize: ResizeMethod = .nearest, gap: Int = 2) -> RGBImage {
        precondition(count >= 1 && columns >= 1 && gap >= 0, "grid needs count >= 1, columns >= 1, gap >= 0")
        let base = ImageResize.resize(image, height: height, width: width, method: resize)
        let columnsUsed = min(columns, count)
        let rows = (count + columnsUsed - 1) / columnsUsed
        let gridWidth = columnsUsed * width + (columnsUsed - 1) * gap
        let gridHeight = rows * height + (rows - 1) * gap
        var pixels = [UInt8](repeating: 255, count: gridWidth * gridHeight * 3)
        let input = Augment.floats(base)
        var output = [Float](repeating: 0, count: input.count)
        for cell in 0..<count {
            let cellImage: RGBImage
            if cell == 0 {
                cellImage = base
            } else {
                let p = settings.draw(seed: seed, key: key, view: cell, height: height, width: width)
                input.withUnsafeBufferPointer { src in
                    output.withUnsafeMutableBufferPointer { dst in
                        Augment.applyTransform(dst.baseAddress!, src.baseAddress!, height: height, width: width,
                                               parameters: p, settings: settings)
                    }
                }
                cellImage = Augment.bytes(output, height: height, width: width)
            }
            let top = (cell / columnsUsed) * (height + gap), left = (cell % columnsUsed) * (width + gap)
            for r in 0..<height {
                let dst = ((top + r) * gridWidth + left) * 3, src = r * width * 3
                pixels.replaceSubrange(dst..<(dst + width * 3), with: cellImage.pixels[src..<(src + width * 3)])
            }
        }
        return RGBImage(width: gridWidth, height: gridHeight, pixels: pixels)
    }
}

/// The brief's name for `AugmentPreview.grid`.
public func augmentPreview(image: RGBImage, settings: AugmentationSettings, seed: UInt64, count: Int,
                           columns: Int, key: [UInt8] = [], height: Int = 150, width: Int = 150) -> RGBImage {
    AugmentPreview.grid(image: image, settings: settings, seed: seed, key: key, count: count, columns: columns,
                        height: height, width: width)
}
