import CKernels
import Foundation

/// The instruction set headstart's own kernels run with (`CKernels`): chosen from the CPU's feature flags
/// (CPUID and the OS's saved register state), never from its family or model, so a CPU newer than this code is
/// used by what it can do. `HEADSTART_ISA=avx2` (or `scalar`) forces a narrower path, so tests and benchmarks
/// can cover it on any host.
public enum InstructionSet: String, CaseIterable, Sendable, Comparable {
    case scalar, avx2, avx512

    /// The widest set this CPU and OS support.
    public static let detected = InstructionSet(hs_isa_detect())

    /// `HEADSTART_ISA` if set (an error if it names a set this CPU lacks or no set at all), else `detected`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> InstructionSet {
        guard let value = environment[environmentVariable], !value.isEmpty else { return detected }
        guard let isa = InstructionSet(rawValue: value.lowercased()) else {
            throw KernelError.unknownInstructionSet(value)
        }
        guard isa <= detected else { throw KernelError.unsupportedInstructionSet(requested: isa, available: detected) }
        return isa
    }

    public static let environmentVariable = "HEADSTART_ISA"

    /// The sets this machine can run, narrowest first (for tests that cover every path).
    public static var supported: [InstructionSet] { allCases.filter { $0 <= detected } }

    init(_ isa: hs_isa) {
        switch isa {
        case HS_ISA_AVX512: self = .avx512
        case HS_ISA_AVX2: self = .avx2
        default: self = .scalar
        }
    }

    public var c: hs_isa {
        switch self {
        case .scalar: return HS_ISA_SCALAR
        case .avx2: return HS_ISA_AVX2
        case .avx512: return HS_ISA_AVX512
        }
    }

    /// The GEMM micro-kernel's register tile and K block for this set.
    public var blocking: (mr: Int, nr: Int, kc: Int) {
        let b = hs_gemm_blocking(c)
        return (Int(b.mr), Int(b.nr), Int(b.kc))
    }

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: InstructionSet, b: InstructionSet) -> Bool { a.rank < b.rank }
}

public enum KernelError: Error, CustomStringConvertible, Equatable {
    /// HEADSTART_ISA holds something other than scalar, avx2 or avx512.
    case unknownInstructionSet(String)
    /// HEADSTART_ISA asks for a set this CPU (or OS) cannot run.
    case unsupportedInstructionSet(requested: InstructionSet, available: InstructionSet)

    public var description: String {
        switch self {
        case let .unknownInstructionSet(v):
            return "\(InstructionSet.environmentVariable)=\(v) is not an instruction set; use one of "
                + InstructionSet.allCases.map(\.rawValue).joined(separator: ", ") + " (or unset it to use the CPU's widest)"
        case let .unsupportedInstructionSet(r, a):
            return "\(InstructionSet.environmentVariable)=\(r.rawValue) asks for more than this CPU has: its widest is \(a.rawValue)"
        }
    }
}

/// 64-byte aligned floats, zero-initialised, freed with the object: parameters, packed weights, activations.
///
/// Buffers of 4 MiB and more (the head's 154 MB first layer and its RMSprop state, the network's weights) are
/// aligned to 2 MiB and asked for transparent huge pages (`MADV_HUGEPAGE`, which Debian's default "madvise" mode
/// honours): one page fault per 2 MiB instead of per 4 KiB when they are first touched, and fewer TLB misses
/// while they stream. On this project's VMs, touching a fresh 154 MB buffer in 4 KiB pages cost 0.3–0.7 s.
public final class AlignedFloats: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    static let hugePage = 1 << 21

    public init(count: Int) {
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let huge = bytes >= 2 * Self.hugePage
        precondition(posix_memalign(&raw, huge ? Self.hugePage : 64, bytes) == 0, "out of memory allocating \(bytes) bytes")
        #if os(Linux)
        if huge { _ = madvise(raw, bytes, 14 /* MADV_HUGEPAGE */) }  // advice only: without huge pages, small ones
        #endif
        pointer = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { free(pointer) }
}
