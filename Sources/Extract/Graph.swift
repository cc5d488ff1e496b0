/// A symbolic NHWC graph: what the network computes, with per-image shapes, before any memory is planned.
/// `InceptionV3.swift` describes the architecture with it; `Network` turns it into an execution plan.

/// TensorFlow padding: 'valid' takes no padding; 'same' pads `max((out−1)·s + k − in, 0)` cells, the smaller
/// half before (top/left) and the extra cell after (bottom/right).
public enum Padding: Sendable { case same, valid }

/// One tensor of the graph, shape per image (height, width, channels).
public struct SymbolicTensor: Equatable, Sendable {
    public let id: Int
    public let h: Int, w: Int, c: Int
}

/// One `conv2d_bn` unit: Conv2D(use_bias=False) → BatchNormalization(scale=False) → ReLU.
/// `index` is its position among all convolutions, which is how weights are matched.
public struct ConvNode: Sendable {
    public let index: Int
    public let input: Int, output: Int
    public let kh: Int, kw: Int, cin: Int, cout: Int
    public let stride: Int
    public let padTop: Int, padLeft: Int
    public var kernelShape: [Int] { [kh, kw, cin, cout] }
}

enum GraphNode {
    case conv(ConvNode)
    /// 3×3 max pooling, stride 2, 'valid'.
    case maxPool(input: Int, output: Int)
    /// 3×3 average pooling, stride 1, 'same', dividing by the number of cells inside the image.
    case avgPool(input: Int, output: Int)
    /// Channel concatenation, inputs in order.
    case concat(inputs: [Int], output: Int, name: String)
}

final class GraphBuilder {
    private(set) var tensors: [SymbolicTensor] = []
    private(set) var nodes: [GraphNode] = []
    private(set) var convs: [ConvNode] = []
    let input: SymbolicTensor
    var output: SymbolicTensor!

    init(input shape: (Int, Int, Int)) {
        tensors.append(SymbolicTensor(id: 0, h: shape.0, w: shape.1, c: shape.2))
        input = tensors[0]
    }

    private func tensor(_ h: Int, _ w: Int, _ c: Int) -> SymbolicTensor {
        let t = SymbolicTensor(id: tensors.count, h: h, w: w, c: c)
        tensors.append(t)
        return t
    }

    /// Output size and leading pad of one spatial axis, as TensorFlow computes them.
    static func outputSize(_ n: Int, kernel k: Int, stride s: Int, padding: Padding) -> (size: Int, padBefore: Int) {
        switch padding {
        case .valid: return ((n - k) / s + 1, 0)
        case .same:
            let out = (n + s - 1) / s
            let total = max((out - 1) * s + k - n, 0)
            return (out, total / 2)
        }
    }

    func conv(_ x: SymbolicTensor, filters: Int, kernel: (Int, Int), stride: Int, padding: Padding) -> SymbolicTensor {
        let (oh, pt) = Self.outputSize(x.h, kernel: kernel.0, stride: stride, padding: padding)
        let (ow, pl) = Self.outputSize(x.w, kernel: kernel.1, stride: stride, padding: padding)
        precondition(oh > 0 && ow > 0, "input too small for a \(kernel.0)×\(kernel.1) convolution")
        let y = tensor(oh, ow, filters)
        let node = ConvNode(
            index: convs.count, input: x.id, output: y.id, kh: kernel.0, kw: kernel.1, cin: x.c, cout: filters,
            stride: stride, padTop: pt, padLeft: pl)
        convs.append(node)
        nodes.append(.conv(node))
        return y
    }

    func maxPooling3x3Stride2(_ x: SymbolicTensor) -> SymbolicTensor {
        let y = tensor((x.h - 3) / 2 + 1, (x.w - 3) / 2 + 1, x.c)
        nodes.append(.maxPool(input: x.id, output: y.id))
        return y
    }

    func averagePooling3x3Same(_ x: SymbolicTensor) -> SymbolicTensor {
        let y = tensor(x.h, x.w, x.c)
        nodes.append(.avgPool(input: x.id, output: y.id))
        return y
    }

    func concatenate(_ xs: [SymbolicTensor], name: String) -> SymbolicTensor {
        precondition(xs.allSatisfy { $0.h == xs[0].h && $0.w == xs[0].w }, "\(name): spatial shapes differ")
        let y = tensor(xs[0].h, xs[0].w, xs.reduce(0) { $0 + $1.c })
        nodes.append(.concat(inputs: xs.map(\.id), output: y.id, name: name))
        return y
    }
}
