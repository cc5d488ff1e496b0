// swift-tools-version:6.0
// headstart: transfer learning on a frozen InceptionV3 with a cached feature stage.
import PackageDescription

let package = Package(
    name: "headstart",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "headstart", targets: ["headstart"]),
        .executable(name: "headstart-bench", targets: ["Benchmarks"]),
        .library(name: "Extract", targets: ["Extract"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "HeadTrain", targets: ["HeadTrain"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libopenblas-dev libhdf5-dev libjpeg-dev
        // libpng-dev libtiff-dev libgif-dev libwebp-dev liblmdb-dev libssl-dev). Debian 12's libgif-dev ships
        // libgif.pc; the module map links "gif" either way.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),
        .systemLibrary(name: "CGIF", pkgConfig: "libgif", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebpdemux", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // C glue the libraries need: setjmp/longjmp error recovery for libjpeg and libpng, libtiff's error
        // handlers, giflib's and libwebp's first frames, and HDF5's macro-only constants (H5T_NATIVE_*,
        // H5P_DEFAULT) as functions Swift can call.
        .target(name: "CShims", dependencies: ["CHDF5", "CJPEG", "CPNG", "CTIFF", "CGIF", "CWebP"]),
        // The network's numerical kernels in C (GEMM micro-kernel, indirect convolution, Winograd), one source
        // compiled per instruction set and chosen at run time by CPU features. Optimised in debug builds too,
        // so the tests run at a usable speed.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Small shared numerics: BLAS calls, float16 conversion, SHA-256, .npy files.
        .target(name: "Numerics", dependencies: ["CBLAS", "CCrypto", "CKernels"]),
        // Keras legacy-layout .h5 weight files: read and write, layer by layer, in order.
        .target(name: "KerasH5", dependencies: ["CHDF5", "CShims"]),
        // Stage one: images, preprocessing, InceptionV3 to a cut layer.
        .target(name: "Extract", dependencies: ["CShims", "CKernels", "Numerics", "KerasH5"]),
        // The LMDB feature cache. Knows nothing of Inception.
        .target(name: "Store", dependencies: ["CLMDB", "Numerics"]),
        // Stage two: the dense head, its optimiser and training. Knows nothing of images.
        .target(name: "HeadTrain", dependencies: ["CKernels", "Numerics", "KerasH5"]),
        // Fine-tuning mixed7 over cached mixed6 features: its backward kernels, the block, the training loop.
        .target(name: "FineTune", dependencies: ["Extract", "HeadTrain", "Numerics"]),
        // Stages joined up: a dataset into a cache (threads, batches, resumption), pipeline definitions.
        .target(name: "Pipeline", dependencies: [
            "Extract", "Store", "HeadTrain", "FineTune", "KerasH5", "Numerics", "Fetch", .product(name: "Yams", package: "Yams"),
        ]),
        // Downloads (resumable, checksummed) and the Horses-or-Humans zips unpacked and verified.
        .target(name: "Fetch", dependencies: ["Numerics", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // The command line: thin, delegating to the libraries.
        .executableTarget(name: "headstart", dependencies: [
            "Extract", "Store", "HeadTrain", "FineTune", "KerasH5", "Numerics", "Pipeline", "Fetch",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The figures in BENCHMARKS.md (run in release).
        .executableTarget(name: "Benchmarks", dependencies: ["CKernels", "Extract", "Numerics", "Store", "HeadTrain", "FineTune", "Pipeline"],
                         path: "Sources/Benchmarks"),

        .testTarget(name: "KerasH5Tests", dependencies: ["KerasH5", "Numerics"]),
        .testTarget(name: "ExtractTests", dependencies: ["Extract", "CKernels", "KerasH5", "Numerics"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Numerics"]),
        .testTarget(name: "HeadTrainTests", dependencies: ["HeadTrain", "KerasH5", "Numerics"]),
        .testTarget(name: "FineTuneTests", dependencies: ["FineTune", "Extract", "HeadTrain", "Numerics"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Extract", "Store", "KerasH5", "Numerics", "HeadTrain", "FineTune", "Fetch"]),
        .testTarget(name: "FetchTests", dependencies: [
            "Fetch", "Numerics", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
        ]),
        .testTarget(name: "CLITests", dependencies: ["Extract", "KerasH5", "Numerics", "Store", "HeadTrain", "Pipeline"]),
    ],
    swiftLanguageModes: [.v5]
)
