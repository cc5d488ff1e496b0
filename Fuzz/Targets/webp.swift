// libFuzzer target: WebP bytes (RIFF) through libwebp's glue (Sources/CShims/webp.c) and the resizes; other inputs
// are skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if startsWithAny(data, size, [Array("RIFF".utf8)]) { checkImageBytes(data, size) }
    return 0
}
