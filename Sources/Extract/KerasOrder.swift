/// The order of Keras's `model.layers`, which is the order of a weights file's layers and so how weights are
/// matched. It is *not* the order in which inception_v3.py calls `conv2d_bn`: Keras (2 and 3, `map_graph` in
/// keras/src/ops/function.py) sorts a functional model's layers by decreasing depth — the longest path to the
/// output — and breaks ties by the order a depth-first walk from the output first reaches them, visiting each
/// layer's inputs in order. In mixed0, for example, the file holds branch3x3dbl_1 before branch5x5_1 before
/// branch1x1. This file reproduces that walk on the graph, with each `conv2d_bn` expanded into its Conv2D,
/// BatchNormalization and Activation layers, named as Keras 2 named them (creation-numbered, as in the real file).
public struct KerasModelLayer: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case input
        /// Carries the convolution's `ConvNode.index` (its conv2d_bn call position).
        case conv(Int), batchNorm(Int)
        case activation, maxPool, avgPool, concat
    }
    public let name: String
    public let kind: Kind
    public let inbound: [String]
}

public enum KerasOrder {
    /// Every layer of `InceptionV3(include_top=False)` up to `cut`, in `model.layers` order.
    /// Layers before a cut keep their relative order in the full model (every block output is a bottleneck, so
    /// depths shift by a constant and the walk enters each block through its output), so the weights of a cut
    /// model are a prefix of the notop file's.
    public static func layers(cut: CutLayer = .mixed10) -> [KerasModelLayer] {
        let g = inceptionV3Graph(height: 299, width: 299, cut: cut)
        // Layers in creation order, with the layer that produces each tensor.
        var created: [KerasModelLayer] = [KerasModelLayer(name: "input_1", kind: .input, inbound: [])]
        var producer = [Int: String]()  // tensor id → layer name
        producer[0] = "input_1"
        var counters = [String: Int]()
        func next(_ prefix: String) -> String {
            counters[prefix, default: 0] += 1
            return "\(prefix)_\(counters[prefix]!)"
        }
        for node in g.nodes {
            switch node {
            case let .conv(c):
                let conv = next("conv2d"), bn = next("batch_normalization"), act = next("activation")
                created.append(KerasModelLayer(name: conv, kind: .conv(c.index), inbound: [producer[c.input]!]))
                created.append(KerasModelLayer(name: bn, kind: .batchNorm(c.index), inbound: [conv]))
                created.append(KerasModelLayer(name: act, kind: .activation, inbound: [bn]))
                producer[c.output] = act
            case let .maxPool(input, output):
                let name = next("max_pooling2d")
                created.append(KerasModelLayer(name: name, kind: .maxPool, inbound: [producer[input]!]))
                producer[output] = name
            case let .avgPool(input, output):
                let name = next("average_pooling2d")
                created.append(KerasModelLayer(name: name, kind: .avgPool, inbound: [producer[input]!]))
                producer[output] = name
            case let .concat(inputs, output, name):
                created.append(KerasModelLayer(name: name, kind: .concat, inbound: inputs.map { producer[$0]! }))
                producer[output] = name
            }
        }
        let byName = Dictionary(uniqueKeysWithValues: created.map { ($0.name, $0) })

        // Depth-first walk from the output: discovery index (pre-order) and finishing order (post-order).
        var discovery = [String: Int]()
        var finished: [String] = []
        var done = Set<String>()
        func visit(_ name: String) {
            if done.contains(name) { return }
            if discovery[name] == nil { discovery[name] = discovery.count }
            for parent in byName[name]!.inbound { visit(parent) }
            done.insert(name)
            finished.append(name)
        }
        visit(producer[g.output.id]!)

        // Longest path to the output, propagated from consumers to producers.
        var depth = [String: Int]()
        for name in finished.reversed() {
            let d = depth[name, default: 0]
            depth[name] = d
            for parent in byName[name]!.inbound { depth[parent] = max(depth[parent, default: 0], d + 1) }
        }
        return finished.map { byName[$0]! }.sorted {
            (depth[$0.name]!, -discovery[$0.name]!) > (depth[$1.name]!, -discovery[$1.name]!)
        }
    }

    /// The layers that carry weights, in file order: each Conv2D and BatchNormalization with its conv2d_bn call
    /// position.
    public static func weightedLayers(cut: CutLayer = .mixed10) -> [KerasModelLayer] {
        layers(cut: cut).filter {
            switch $0.kind { case .conv, .batchNorm: return true; default: return false }
        }
    }
}
