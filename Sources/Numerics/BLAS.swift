import CBLAS

/// Row-major single-precision GEMM: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C[m,n].
/// `lda`, `ldb`, `ldc` are row strides in elements, so a GEMM can read or write a channel slice of a wider
/// NHWC tensor (ldc = total channels).
@inline(__always)
public func sgemm(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// OpenBLAS's own thread count. headstart parallelises over images itself and runs each GEMM on one thread
/// when it does; see `Parallel`.
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}
