import CKernels
import Extract
import Numerics
import XCTest

/// The C kernels under the network, on every instruction set this machine runs (`InstructionSet.supported`):
/// the indirect-GEMM convolution against a float64 direct convolution, and every Winograd path against the
/// GEMM path, on awkward shapes (odd sizes, 'same' and 'valid', channel slices, batch 1 and several). The
/// network-level parity with Keras is in KerasParityTests; here each kernel is pinned down on its own.
final class ConvolutionKernelTests: XCTestCase {
    /// A convolution layer with random data: input (n, h, w, inStride) with cin used, kernel (kh, kw, cin, cout).
    struct Layer {
        var n: Int, h: Int, w: Int, cin: Int, cout: Int
        var kh: Int, kw: Int, stride: Int = 1
        var same: Bool
        var inStride: Int, outStride: Int
        var input: [Float] = [], kernel: [Float] = [], bias: [Float] = []

        var padTop: Int { same ? max(((oh - 1) * stride + kh - h), 0) / 2 : 0 }
        var padLeft: Int { same ? max(((ow - 1) * stride + kw - w), 0) / 2 : 0 }
        var oh: Int { same ? (h + stride - 1) / stride : (h - kh) / stride + 1 }
        var ow: Int { same ? (w + stride - 1) / stride : (w - kw) / stride + 1 }

        init(n: Int, h: Int, w: Int, cin: Int, cout: Int, kh: Int, kw: Int, stride: Int = 1, same: Bool,
             inSlack: Int = 0, outSlack: Int = 0, seed: UInt64) {
            self.n = n; self.h = h; self.w = w; self.cin = cin; self.cout = cout
            self.kh = kh; self.kw = kw; self.stride = stride; self.same = same
            inStride = cin + inSlack; outStride = cout + outSlack
            var g = SplitMix(seed)
            // Post-ReLU-like activations (mostly positive, some exact zeros), He-scaled kernels.
            input = (0..<(n * h * w * inStride)).map { _ in max(0, g.uniform() * 2 - 0.4) }
            let scale = (2.0 / Float(kh * kw * cin)).squareRoot()
            kernel = (0..<(kh * kw * cin * cout)).map { _ in (g.uniform() * 2 - 1) * scale }
            bias = (0..<cout).map { _ in g.uniform() - 0.5 }
        }

        /// float64 sums, plain loops (Extract's `conv2d_reference_forward`), into a dense (n, oh, ow, cout).
        func reference() -> [Float] {
            let dense = (0..<(n * h * w)).flatMap { p in input[(p * inStride)..<(p * inStride + cin)] }
            var out = [Float](repeating: 0, count: n * oh * ow * cout)
            conv2d_reference_forward(&out, dense, kernel, bias, n: n, h: h, w: w, cin: cin, cout: cout,
                                     kh: kh, kw: kw, stride: stride, padTop: padTop, padLeft: padLeft, oh: oh, ow: ow)
            return out
        }

        /// The kernel's output slice (n, oh, ow, outStride) reduced to dense (n, oh, ow, cout); the slack
        /// channels must be untouched (they start as NaN-free sentinels).
        func dense(_ out: [Float]) -> [Float] {
            (0..<(n * oh * ow)).flatMap { p in out[(p * outStride)..<(p * outStride + cout)] }
        }
    }

    struct SplitMix {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    }

    static let sentinel: Float = 12345

    /// The layer's kernel packed by `pack` into `count` floats, then `body(input, packed, bias, output)` on a
    /// sentinel-filled output (n, oh, ow, outStride), which is returned.
    func run(_ l: Layer, packedCount count: Int, pack: (UnsafeMutablePointer<Float>) -> Void,
             _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var packed = [Float](repeating: 0, count: count)
        packed.withUnsafeMutableBufferPointer { pack($0.baseAddress!) }
        var out = [Float](repeating: Self.sentinel, count: l.n * l.oh * l.ow * l.outStride)
        l.input.withUnsafeBufferPointer { inp in
            packed.withUnsafeBufferPointer { pk in
                l.bias.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { o in body(inp.baseAddress!, pk.baseAddress!, b.baseAddress!, o.baseAddress!) }
                }
            }
        }
        return out
    }

    func panels(_ l: Layer, _ isa: InstructionSet) -> Int { (l.cout + isa.blocking.nr - 1) / isa.blocking.nr }

    /// Runs the layer through the indirect-GEMM convolution, rows and panels split as `splits` says.
    func gemmPath(_ l: Layer, _ isa: InstructionSet, splits: [(rows: Range<Int>, panels: Range<Int>)]? = nil) -> [Float] {
        let k = l.kh * l.kw * l.cin
        return run(l, packedCount: hs_packed_floats(isa.c, Int32(k), Int32(l.cout)),
                   pack: { hs_pack_b(isa.c, $0, l.kernel, l.cout, 0, Int32(k), Int32(l.cout)) }) { inp, pk, b, o in
            var d = hs_conv_desc(
                input: inp, in_stride: l.inStride, h: Int32(l.h), w: Int32(l.w), cin: Int32(l.cin),
                kh: Int32(l.kh), kw: Int32(l.kw), stride: Int32(l.stride), pad_top: Int32(l.padTop),
                pad_left: Int32(l.padLeft), oh: Int32(l.oh), ow: Int32(l.ow), packed: pk,
                n: Int32(l.cout), epilogue: hs_epilogue(bias: b, relu: 1), output: o, out_stride: l.outStride)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: hs_conv_scratch_bytes(isa.c, Int32(l.kh), Int32(l.kw), Int32(l.cin)), alignment: 64)
            defer { scratch.deallocate() }
            for s in splits ?? [(0..<(l.n * l.oh * l.ow), 0..<panels(l, isa))] {
                hs_conv_forward(isa.c, &d, s.rows.lowerBound, s.rows.upperBound, Int32(s.panels.lowerBound), Int32(s.panels.upperBound), scratch)
            }
        }
    }

    /// Runs a k×k layer through 2D Winograd, tiles and panels split as `splits` says.
    func winogradPath(_ l: Layer, _ isa: InstructionSet, splits: [(tiles: Range<Int>, panels: Range<Int>)]? = nil) -> [Float] {
        run(l, packedCount: 36 * hs_packed_floats(isa.c, Int32(l.cin), Int32(l.cout)),
            pack: { hs_winograd_pack_kernel(isa.c, $0, l.kernel, Int32(l.kh), Int32(l.cin), Int32(l.cout)) }) { inp, pk, b, o in
            var d = hs_winograd_desc(
                input: inp, in_stride: l.inStride, h: Int32(l.h), w: Int32(l.w), cin: Int32(l.cin),
                r: Int32(l.kh), pad_top: Int32(l.padTop), pad_left: Int32(l.padLeft), oh: Int32(l.oh), ow: Int32(l.ow),
                packed_u: pk, n: Int32(l.cout), epilogue: hs_epilogue(bias: b, relu: 1), output: o, out_stride: l.outStride)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: hs_winograd_scratch_bytes(isa.c, &d), alignment: 64)
            defer { scratch.deallocate() }
            for s in splits ?? [(0..<(l.n * hs_winograd_tiles(&d)), 0..<panels(l, isa))] {
                hs_winograd_forward(isa.c, &d, s.tiles.lowerBound, s.tiles.upperBound, Int32(s.panels.lowerBound), Int32(s.panels.upperBound), scratch)
            }
        }
    }

    /// Runs a 1×k or k×1 'same' layer through one-dimensional Winograd, lines and panels split as `splits` says.
    func winograd1DPath(_ l: Layer, _ isa: InstructionSet, splits: [(lines: Range<Int>, panels: Range<Int>)]? = nil) -> [Float] {
        let taps = max(l.kh, l.kw)
        return run(l, packedCount: hs_winograd1d_packed_floats(isa.c, Int32(taps), Int32(l.cin), Int32(l.cout)),
                   pack: { hs_winograd1d_pack_kernel(isa.c, $0, l.kernel, Int32(taps), Int32(l.cin), Int32(l.cout)) }) { inp, pk, b, o in
            var d = hs_winograd1d_desc(
                input: inp, in_stride: l.inStride, h: Int32(l.h), w: Int32(l.w), cin: Int32(l.cin),
                axis: l.kh == 1 ? 0 : 1, k: Int32(taps), pad: Int32(l.kh == 1 ? l.padLeft : l.padTop),
                packed_u: pk, n: Int32(l.cout), epilogue: hs_epilogue(bias: b, relu: 1), output: o, out_stride: l.outStride)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: hs_winograd1d_scratch_bytes(isa.c, &d), alignment: 64)
            defer { scratch.deallocate() }
            for s in splits ?? [(0..<(l.n * hs_winograd1d_lines(&d)), 0..<panels(l, isa))] {
                hs_winograd1d_forward(isa.c, &d, s.lines.lowerBound, s.lines.upperBound, Int32(s.panels.lowerBound), Int32(s.panels.upperBound), scratch)
            }
        }
    }

    /// Output slack channels (the concatenation's other slices) keep what they held.
    func assertSlackUntouched(_ out: [Float], _ l: Layer, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard l.outStride > l.cout else { return }
        for p in 0..<(l.n * l.oh * l.ow) {
            for c in l.cout..<l.outStride where out[p * l.outStride + c] != Self.sentinel {
                return XCTFail("\(what): wrote channel \(c) of pixel \(p), outside its slice", file: file, line: line)
            }
        }
    }

    // MARK: - Indirect GEMM convolution

    func testIndirectConvolutionMatchesFloat64DirectConvolution() {
        let layers = [
            Layer(n: 2, h: 11, w: 9, cin: 3, cout: 32, kh: 3, kw: 3, stride: 2, same: false, seed: 1),    // the stem: gathered
            Layer(n: 1, h: 13, w: 13, cin: 20, cout: 17, kh: 3, kw: 3, same: true, inSlack: 5, outSlack: 3, seed: 2),
            Layer(n: 3, h: 7, w: 7, cin: 40, cout: 33, kh: 1, kw: 7, same: true, seed: 3),
            Layer(n: 2, h: 7, w: 5, cin: 24, cout: 16, kh: 7, kw: 1, same: true, outSlack: 16, seed: 4),
            Layer(n: 2, h: 16, w: 16, cin: 288, cout: 40, kh: 3, kw: 3, stride: 2, same: false, seed: 5),  // cin > KC
            Layer(n: 5, h: 6, w: 6, cin: 770, cout: 19, kh: 1, kw: 1, same: true, inSlack: 2, seed: 6),    // K blocks
            Layer(n: 1, h: 9, w: 8, cin: 7, cout: 5, kh: 5, kw: 5, same: true, seed: 7),
        ]
        for isa in InstructionSet.supported {
            for l in layers {
                let out = gemmPath(l, isa)
                assertClose(l.dense(out), l.reference(), relativeTo: 1e-5,
                            "\(isa.rawValue) \(l.kh)×\(l.kw)/\(l.stride) \(l.h)×\(l.w)×\(l.cin)→\(l.cout)")
                assertSlackUntouched(out, l, "\(isa.rawValue) \(l.kh)×\(l.kw)")
            }
        }
    }

    func testAnyRowAndPanelSplitGivesBitIdenticalOutputs() {
        let l = Layer(n: 3, h: 9, w: 7, cin: 300, cout: 70, kh: 3, kw: 3, same: true, seed: 11)
        for isa in InstructionSet.supported {
            let whole = gemmPath(l, isa)
            let rows = l.n * l.oh * l.ow, panels = (l.cout + isa.blocking.nr - 1) / isa.blocking.nr
            let split = gemmPath(l, isa, splits: [(0..<7, 0..<panels), (7..<100, 0..<1), (7..<100, 1..<panels), (100..<rows, 0..<panels)])
            XCTAssertEqual(whole, split, "\(isa.rawValue): splitting rows and panels changed an output")
        }
    }

    // MARK: - Winograd against the GEMM path

    func testWinograd3x3MatchesTheGemmPath() {
        let layers = [
            Layer(n: 1, h: 13, w: 11, cin: 32, cout: 64, kh: 3, kw: 3, same: true, seed: 21),
            Layer(n: 3, h: 17, w: 17, cin: 80, cout: 49, kh: 3, kw: 3, same: false, seed: 22),   // valid, odd
            Layer(n: 1, h: 5, w: 9, cin: 9, cout: 3, kh: 3, kw: 3, same: true, inSlack: 7, outSlack: 5, seed: 23),
            Layer(n: 32, h: 6, w: 6, cin: 16, cout: 24, kh: 3, kw: 3, same: true, seed: 24),    // batch 32
            Layer(n: 2, h: 8, w: 8, cin: 400, cout: 20, kh: 3, kw: 3, same: true, seed: 25),    // cin > KC
        ]
        for isa in InstructionSet.supported {
            for l in layers {
                let out = winogradPath(l, isa)
                assertClose(l.dense(out), l.dense(gemmPath(l, isa)), relativeTo: 1e-5,
                            "\(isa.rawValue) Winograd 3×3 \(l.same ? "same" : "valid") \(l.n)×\(l.h)×\(l.w)×\(l.cin)→\(l.cout)")
                assertSlackUntouched(out, l, "\(isa.rawValue) Winograd 3×3")
            }
        }
    }

    func testWinograd5x5MatchesTheGemmPath() {
        let layers = [
            Layer(n: 2, h: 16, w: 16, cin: 48, cout: 64, kh: 5, kw: 5, same: true, seed: 31),
            Layer(n: 1, h: 11, w: 7, cin: 5, cout: 19, kh: 5, kw: 5, same: false, outSlack: 4, seed: 32),
            Layer(n: 32, h: 5, w: 5, cin: 8, cout: 16, kh: 5, kw: 5, same: true, seed: 33),
        ]
        for isa in InstructionSet.supported {
            for l in layers {
                assertClose(l.dense(winogradPath(l, isa)), l.dense(gemmPath(l, isa)), relativeTo: 1e-5,
                            "\(isa.rawValue) Winograd 5×5 \(l.same ? "same" : "valid") \(l.n)×\(l.h)×\(l.w)×\(l.cin)→\(l.cout)")
            }
        }
    }

    func testOneDimensionalWinogradMatchesTheGemmPath() {
        let layers = [
            Layer(n: 2, h: 7, w: 7, cin: 192, cout: 160, kh: 1, kw: 7, same: true, seed: 41),
            Layer(n: 2, h: 7, w: 7, cin: 160, cout: 192, kh: 7, kw: 1, same: true, outSlack: 8, seed: 42),
            Layer(n: 1, h: 9, w: 13, cin: 20, cout: 24, kh: 7, kw: 1, same: true, inSlack: 3, seed: 43),
            Layer(n: 32, h: 5, w: 6, cin: 8, cout: 9, kh: 1, kw: 7, same: true, seed: 44),
            Layer(n: 3, h: 8, w: 8, cin: 24, cout: 16, kh: 1, kw: 3, same: true, seed: 45),
            Layer(n: 3, h: 11, w: 5, cin: 24, cout: 40, kh: 3, kw: 1, same: true, seed: 46),
            Layer(n: 1, h: 4, w: 10, cin: 12, cout: 20, kh: 1, kw: 5, same: true, seed: 47),
        ]
        for isa in InstructionSet.supported {
            for l in layers {
                let out = winograd1DPath(l, isa)
                assertClose(l.dense(out), l.dense(gemmPath(l, isa)), relativeTo: 1e-5,
                            "\(isa.rawValue) Winograd \(l.kh)×\(l.kw) \(l.n)×\(l.h)×\(l.w)×\(l.cin)→\(l.cout)")
                assertSlackUntouched(out, l, "\(isa.rawValue) Winograd \(l.kh)×\(l.kw)")
            }
        }
    }

    func testWinogradTileAndPanelSplitsGiveBitIdenticalOutputs() {
        let l = Layer(n: 2, h: 13, w: 13, cin: 40, cout: 50, kh: 3, kw: 3, same: true, seed: 51)
        let l1 = Layer(n: 3, h: 7, w: 7, cin: 40, cout: 50, kh: 1, kw: 7, same: true, seed: 52)
        for isa in InstructionSet.supported {
            let panels = (l.cout + isa.blocking.nr - 1) / isa.blocking.nr
            XCTAssertEqual(winogradPath(l, isa), winogradPath(l, isa, splits: [(0..<5, 0..<panels), (5..<32, 0..<1), (5..<32, 1..<panels)]),
                           "\(isa.rawValue): splitting Winograd tiles and panels changed an output")
            XCTAssertEqual(winograd1DPath(l1, isa), winograd1DPath(l1, isa, splits: [(0..<4, 0..<panels), (4..<21, 0..<2), (4..<21, 2..<panels)]),
                           "\(isa.rawValue): splitting 1D Winograd lines and panels changed an output")
        }
    }

    // MARK: - Pooling

    func testPoolingKernelsEqualThePlainOnesBitForBit() {
        var g = SplitMix(71)
        let (n, h, w, c, stride) = (3, 9, 11, 37, 45)  // channels 0..<37 of 45; odd sizes
        let input = (0..<(n * h * w * stride)).map { _ in g.uniform() * 4 - 1 }
        let bias = (0..<c).map { _ in g.uniform() - 0.5 }
        let (oh, ow) = ((h - 3) / 2 + 1, (w - 3) / 2 + 1)
        for isa in InstructionSet.supported {
            var ours = [Float](repeating: Self.sentinel, count: n * oh * ow * stride), plain = ours
            hs_maxpool3x3s2(isa.c, &ours, stride, input, stride, Int32(c), Int32(h), Int32(w), Int32(oh), Int32(ow), 0, n * oh)
            maxpool3x3s2_forward(&plain, outStride: stride, input, inStride: stride, c: c, h: h, w: w, oh: oh, ow: ow, lines: 0, n * oh)
            XCTAssertEqual(ours, plain, "\(isa.rawValue) max pooling")
            func average(_ b: UnsafePointer<Float>?) {
                var ours = [Float](repeating: Self.sentinel, count: n * h * w * stride), plain = ours
                hs_avgpool3x3same(isa.c, &ours, stride, input, stride, Int32(c), Int32(h), Int32(w), b, 0, n * h)
                avgpool3x3same_forward(&plain, outStride: stride, input, inStride: stride, c: c, h: h, w: w, bias: b, lines: 0, n * h)
                XCTAssertEqual(ours, plain, "\(isa.rawValue) average pooling\(b == nil ? "" : " with bias and ReLU")")
            }
            average(nil)
            bias.withUnsafeBufferPointer { average($0.baseAddress) }
        }
    }

    // MARK: - Instruction sets

    func testEveryVectorPathAgreesWithThePortableOne() {
        let l = Layer(n: 2, h: 9, w: 9, cin: 33, cout: 47, kh: 3, kw: 3, same: true, seed: 61)
        let portable = winogradPath(l, .scalar)
        for isa in InstructionSet.supported where isa != .scalar {
            assertClose(l.dense(winogradPath(l, isa)), l.dense(portable), relativeTo: 1e-5, "\(isa.rawValue) against scalar")
        }
    }

    func testHeadstartISAChoosesANarrowerPathAndRefusesWhatTheCPULacks() throws {
        XCTAssertEqual(try InstructionSet.fromEnvironment([:]), InstructionSet.detected)
        XCTAssertEqual(try InstructionSet.fromEnvironment(["HEADSTART_ISA": "scalar"]), .scalar)
        XCTAssertEqual(try InstructionSet.fromEnvironment(["HEADSTART_ISA": InstructionSet.detected.rawValue.uppercased()]), InstructionSet.detected)
        XCTAssertThrowsError(try InstructionSet.fromEnvironment(["HEADSTART_ISA": "sse9"])) { error in
            XCTAssertEqual(error as? KernelError, .unknownInstructionSet("sse9"))
            XCTAssertTrue("\(error)".contains("avx2"), "\(error)")
        }
        if InstructionSet.detected < .avx512 {
            XCTAssertThrowsError(try InstructionSet.fromEnvironment(["HEADSTART_ISA": "avx512"])) { error in
                XCTAssertEqual(error as? KernelError, .unsupportedInstructionSet(requested: .avx512, available: InstructionSet.detected))
            }
        }
    }
}
