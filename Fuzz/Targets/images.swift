// libFuzzer target: image bytes of any format through the decoders (JPEG, PNG, TIFF, GIF, WebP, BMP, PPM) and,
// when they decode, the two Keras resizes (Fuzz/Support/ImageBytes.swift).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    checkImageBytes(data, size)
    return 0
}
