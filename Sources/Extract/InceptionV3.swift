/// InceptionV3 as Keras `applications/inception_v3.py` defines it, up to a named cut layer.
///
/// Read it beside the Keras source: every `conv2d_bn` call here is one there, in the same order. The weights file
/// is matched to the layers by Keras's `model.layers` order, which sorts layers by depth and is not this call
/// order; `KerasOrder.swift` maps one to the other (94 Conv2D + 94 BatchNormalization layers in the notop file;
/// `mixed7` uses the first 70 of each). Blocks build a symbolic graph; `Network` plans and runs it.
public enum CutLayer: String, CaseIterable, Sendable, Codable {
    case mixed0, mixed1, mixed2, mixed3, mixed4, mixed5, mixed6, mixed7, mixed8, mixed9, mixed10
}

extension GraphBuilder {
    /// Keras: Conv2D(use_bias=False) → BatchNormalization(axis=3, scale=False, eps=1e-3) → ReLU.
    @discardableResult
    func conv2d_bn(
        _ x: SymbolicTensor, _ filters: Int, _ numRow: Int, _ numCol: Int,
        strides: Int = 1, padding: Padding = .same
    ) -> SymbolicTensor {
        conv(x, filters: filters, kernel: (numRow, numCol), stride: strides, padding: padding)
    }

    /// 35×35 blocks (17×17 at a 150 input): mixed0, mixed1, mixed2.
    func inceptionA(_ x: SymbolicTensor, poolFilters: Int, name: String) -> SymbolicTensor {
        let branch1x1 = conv2d_bn(x, 64, 1, 1)

        var branch5x5 = conv2d_bn(x, 48, 1, 1)
        branch5x5 = conv2d_bn(branch5x5, 64, 5, 5)

        var branch3x3dbl = conv2d_bn(x, 64, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)

        var branchPool = averagePooling3x3Same(x)
        branchPool = conv2d_bn(branchPool, poolFilters, 1, 1)
        return concatenate([branch1x1, branch5x5, branch3x3dbl, branchPool], name: name)
    }

    /// Grid reduction to 17×17 (7×7 at a 150 input): mixed3.
    func reductionA(_ x: SymbolicTensor) -> SymbolicTensor {
        let branch3x3 = conv2d_bn(x, 384, 3, 3, strides: 2, padding: .valid)

        var branch3x3dbl = conv2d_bn(x, 64, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides: 2, padding: .valid)

        let branchPool = maxPooling3x3Stride2(x)
        return concatenate([branch3x3, branch3x3dbl, branchPool], name: "mixed3")
    }

    /// 17×17 blocks with factorised 7×7 convolutions: mixed4 (c=128), mixed5, mixed6 (c=160), mixed7 (c=192).
    func inceptionC(_ x: SymbolicTensor, channels c: Int, name: String) -> SymbolicTensor {
        let branch1x1 = conv2d_bn(x, 192, 1, 1)

        var branch7x7 = conv2d_bn(x, c, 1, 1)
        branch7x7 = conv2d_bn(branch7x7, c, 1, 7)
        branch7x7 = conv2d_bn(branch7x7, 192, 7, 1)

        var branch7x7dbl = conv2d_bn(x, c, 1, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, c, 7, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, c, 1, 7)
        branch7x7dbl = conv2d_bn(branch7x7dbl, c, 7, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, 192, 1, 7)

        var branchPool = averagePooling3x3Same(x)
        branchPool = conv2d_bn(branchPool, 192, 1, 1)
        return concatenate([branch1x1, branch7x7, branch7x7dbl, branchPool], name: name)
    }

    /// Grid reduction to 8×8: mixed8.
    func reductionB(_ x: SymbolicTensor) -> SymbolicTensor {
        var branch3x3 = conv2d_bn(x, 192, 1, 1)
        branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides: 2, padding: .valid)

        var branch7x7x3 = conv2d_bn(x, 192, 1, 1)
        branch7x7x3 = conv2d_bn(branch7x7x3, 192, 1, 7)
        branch7x7x3 = conv2d_bn(branch7x7x3, 192, 7, 1)
        branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides: 2, padding: .valid)

        let branchPool = maxPooling3x3Stride2(x)
        return concatenate([branch3x3, branch7x7x3, branchPool], name: "mixed8")
    }

    /// 8×8 blocks with expanded filter banks: mixed9, mixed10.
    func inceptionE(_ x: SymbolicTensor, index i: Int) -> SymbolicTensor {
        let branch1x1 = conv2d_bn(x, 320, 1, 1)

        let branch3x3 = conv2d_bn(x, 384, 1, 1)
        let branch3x3_1 = conv2d_bn(branch3x3, 384, 1, 3)
        let branch3x3_2 = conv2d_bn(branch3x3, 384, 3, 1)
        let branch3x3Cat = concatenate([branch3x3_1, branch3x3_2], name: "mixed9_\(i)")

        var branch3x3dbl = conv2d_bn(x, 448, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 384, 3, 3)
        let branch3x3dbl_1 = conv2d_bn(branch3x3dbl, 384, 1, 3)
        let branch3x3dbl_2 = conv2d_bn(branch3x3dbl, 384, 3, 1)
        let branch3x3dblCat = concatenate([branch3x3dbl_1, branch3x3dbl_2], name: "concatenate_\(i + 1)")

        var branchPool = averagePooling3x3Same(x)
        branchPool = conv2d_bn(branchPool, 192, 1, 1)
        return concatenate([branch1x1, branch3x3Cat, branch3x3dblCat, branchPool], name: "mixed\(9 + i)")
    }
}

/// The symbolic InceptionV3 graph from an `(height, width, 3)` input to `cut`.
func inceptionV3Graph(height: Int, width: Int, cut: CutLayer) -> GraphBuilder {
    let g = GraphBuilder(input: (height, width, 3))
    var x = g.input
    x = g.conv2d_bn(x, 32, 3, 3, strides: 2, padding: .valid)
    x = g.conv2d_bn(x, 32, 3, 3, padding: .valid)
    x = g.conv2d_bn(x, 64, 3, 3)
    x = g.maxPooling3x3Stride2(x)
    x = g.conv2d_bn(x, 80, 1, 1, padding: .valid)
    x = g.conv2d_bn(x, 192, 3, 3, padding: .valid)
    x = g.maxPooling3x3Stride2(x)

    func done(_ t: SymbolicTensor, _ name: CutLayer) -> Bool {
        if name == cut { g.output = t; return true }
        return false
    }
    x = g.inceptionA(x, poolFilters: 32, name: "mixed0"); if done(x, .mixed0) { return g }
    x = g.inceptionA(x, poolFilters: 64, name: "mixed1"); if done(x, .mixed1) { return g }
    x = g.inceptionA(x, poolFilters: 64, name: "mixed2"); if done(x, .mixed2) { return g }
    x = g.reductionA(x); if done(x, .mixed3) { return g }
    x = g.inceptionC(x, channels: 128, name: "mixed4"); if done(x, .mixed4) { return g }
    x = g.inceptionC(x, channels: 160, name: "mixed5"); if done(x, .mixed5) { return g }
    x = g.inceptionC(x, channels: 160, name: "mixed6"); if done(x, .mixed6) { return g }
    x = g.inceptionC(x, channels: 192, name: "mixed7"); if done(x, .mixed7) { return g }
    x = g.reductionB(x); if done(x, .mixed8) { return g }
    x = g.inceptionE(x, index: 0); if done(x, .mixed9) { return g }
    x = g.inceptionE(x, index: 1)
    g.output = x
    return g
}
