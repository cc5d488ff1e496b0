import CBLAS
import CKernels
import Foundation

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

/// OpenBLAS's choice of kernels ("core type"), made from the CPU's feature flags rather than left to OpenBLAS's
/// list of CPU models: Debian's OpenBLAS 0.3.21 does not know AMD Zen 5 and runs its Haswell (AVX2) kernels on
/// a CPU with full-width AVX-512. OpenBLAS reads `OPENBLAS_CORETYPE` once, while it loads, before `main`; so an
/// executable calls `adoptFeatureChoice()` first thing, which re-executes the process with the variable set when
/// OpenBLAS chose narrower (or, under HEADSTART_ISA=avx2, wider) kernels than the instruction set in use.
public enum OpenBLASCore {
    /// The core type OpenBLAS runs ("Zen", "Haswell", "SkylakeX", …).
    public static var current: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS core types with AVX-512 kernels.
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "Sapphirerapids"]

    /// The core type to ask for, or nil to keep OpenBLAS's own: AVX-512 kernels (Cooper Lake's if the CPU has
    /// AVX-512 BF16, else Skylake-X's) when `isa` is avx512 and OpenBLAS picked narrower ones; Haswell's when
    /// `isa` is narrower than AVX-512 and OpenBLAS picked AVX-512 ones.
    public static func choice(isa: InstructionSet, features: UInt32 = hs_cpu_features(), current: String = current) -> String? {
        let skylakeX = UInt32(HS_CPU_AVX512F | HS_CPU_AVX512DQ | HS_CPU_AVX512BW | HS_CPU_AVX512VL)
        if isa == .avx512 {
            guard features & skylakeX == skylakeX, !avx512Cores.contains(current) else { return nil }
            return features & UInt32(HS_CPU_AVX512BF16) != 0 ? "COOPERLAKE" : "SKYLAKEX"
        }
        return avx512Cores.contains(current) ? "HASWELL" : nil
    }

    static let reexecMarker = "HEADSTART_OPENBLAS_CHOSEN"

    /// Re-executes this process with OPENBLAS_CORETYPE set when `choice` asks for another core type. Does
    /// nothing when the user set OPENBLAS_CORETYPE, when this process is already the re-executed one, or when
    /// HEADSTART_ISA is invalid (the command reports that itself).
    public static func adoptFeatureChoice() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env[reexecMarker] == nil,
              let isa = try? InstructionSet.fromEnvironment(env), let core = choice(isa: isa) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(reexecMarker, core, 1)
        let args = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", args)
        // execv returned: keep running with OpenBLAS's own choice rather than fail.
        for a in args { free(a) }
    }
}
