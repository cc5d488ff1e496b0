// libFuzzer target: GIF bytes through giflib's glue (Sources/CShims/gif.c) and the resizes; other inputs are skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGIF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if startsWithAny(data, size, [Array("GIF87a".utf8), Array("GIF89a".utf8)]) { checkImageBytes(data, size) }
    return 0
}
