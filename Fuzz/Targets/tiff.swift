// libFuzzer target: TIFF bytes (classic or BigTIFF, either byte order) through libtiff's glue (Sources/CShims/tiff.c)
// and the resizes; other inputs are skipped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTIFF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if startsWithAny(data, size, [[0x49, 0x49, 0x2A, 0x00], [0x4D, 0x4D, 0x00, 0x2A], [0x49, 0x49, 0x2B, 0x00], [0x4D, 0x4D, 0x00, 0x2B]]) {
        checkImageBytes(data, size)
    }
    return 0
}
