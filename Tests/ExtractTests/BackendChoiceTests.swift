import CKernels
import Numerics
import XCTest

/// OpenBLAS's kernels are chosen from the CPU's feature flags (`OpenBLASCore.choice`), never from its model:
/// AVX-512 kernels wherever the CPU has AVX-512 F/DQ/BW/VL and OpenBLAS picked narrower ones (Debian's 0.3.21
/// runs Haswell kernels on Zen 5), and Haswell's when HEADSTART_ISA asks for a narrower path.
final class BackendChoiceTests: XCTestCase {
    let avx512 = UInt32(HS_CPU_AVX2 | HS_CPU_FMA | HS_CPU_AVX512F | HS_CPU_AVX512DQ | HS_CPU_AVX512BW | HS_CPU_AVX512VL)

    func testAnAVX512CPUThatOpenBLASTakesForHaswellGetsSkylakeXKernels() {
        XCTAssertEqual(OpenBLASCore.choice(isa: .avx512, features: avx512, current: "Haswell"), "SKYLAKEX")
        XCTAssertEqual(OpenBLASCore.choice(isa: .avx512, features: avx512, current: "Zen"), "SKYLAKEX")
    }

    func testBF16MeansCooperLakeKernels() {
        XCTAssertEqual(OpenBLASCore.choice(isa: .avx512, features: avx512 | UInt32(HS_CPU_AVX512BF16), current: "Haswell"), "COOPERLAKE")
    }

    func testOpenBLASsOwnAVX512ChoiceIsKept() {
        for core in ["SkylakeX", "Cooperlake", "Sapphirerapids"] {
            XCTAssertNil(OpenBLASCore.choice(isa: .avx512, features: avx512, current: core), core)
        }
    }

    func testWithoutTheFullAVX512SetOpenBLASDecides() {
        XCTAssertNil(OpenBLASCore.choice(isa: .avx512, features: UInt32(HS_CPU_AVX2 | HS_CPU_FMA | HS_CPU_AVX512F), current: "Haswell"))
        XCTAssertNil(OpenBLASCore.choice(isa: .avx2, features: UInt32(HS_CPU_AVX2 | HS_CPU_FMA), current: "Zen"))
    }

    func testANarrowerHeadstartISATakesOpenBLASToHaswellKernelsToo() {
        XCTAssertEqual(OpenBLASCore.choice(isa: .avx2, features: avx512, current: "SkylakeX"), "HASWELL")
        XCTAssertEqual(OpenBLASCore.choice(isa: .scalar, features: avx512, current: "Cooperlake"), "HASWELL")
        XCTAssertNil(OpenBLASCore.choice(isa: .avx2, features: avx512, current: "Haswell"))
    }

    func testThisMachinesFeaturesAgreeWithItsInstructionSet() {
        let f = hs_cpu_features()
        switch InstructionSet.detected {
        case .avx512: XCTAssertNotEqual(f & UInt32(HS_CPU_AVX512F), 0)
        case .avx2: XCTAssertEqual(f & UInt32(HS_CPU_AVX2 | HS_CPU_FMA), UInt32(HS_CPU_AVX2 | HS_CPU_FMA))
        case .scalar: XCTAssertNotEqual(f & UInt32(HS_CPU_AVX2 | HS_CPU_FMA), UInt32(HS_CPU_AVX2 | HS_CPU_FMA))
        }
    }
}
