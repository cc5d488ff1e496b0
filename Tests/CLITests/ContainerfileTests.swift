import Foundation
import XCTest

/// The Containerfile: multi-stage, built under the image name the manifests run, and its runtime packages cover
/// every shared library `ldd` reports for the release binary (scripts/check-containerfile).
final class ContainerfileTests: XCTestCase {
    let root = CLI.repositoryRoot

    func text(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// Runs scripts/check-containerfile on `binary` against `containerfile`.
    func check(_ binary: String, containerfile: String? = nil) throws -> CLI.Result {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg"), FileManager.default.isExecutableFile(atPath: "/usr/bin/ldd") else {
            throw XCTSkip("dpkg and ldd are needed to map libraries to Debian packages (a Debian or Ubuntu machine)")
        }
        let script = root.appendingPathComponent("scripts/check-containerfile").path
        return try CLI.process(URL(fileURLWithPath: "/bin/bash"),
                               [script] + (containerfile.map { ["--containerfile", $0] } ?? []) + [binary])
    }

    func testTheContainerfileIsMultiStageAndTheManifestsRunTheImageItDocuments() throws {
        let file = try text("Containerfile")
        let stages = file.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        XCTAssertEqual(stages.count, 2, "a build stage and a runtime stage")
        XCTAssertTrue(stages[0].hasPrefix("FROM swift:") && stages[0].hasSuffix(" AS build"), "\(stages[0])")
        XCTAssertTrue(stages[1].hasPrefix("FROM debian:") && stages[1].contains("-slim"), "\(stages[1])")
        XCTAssertTrue(file.contains("--static-swift-stdlib"), "the Swift runtime linked statically")
        XCTAssertTrue(file.contains("COPY --from=build "), "the runtime stage takes only the binary")
        XCTAssertTrue(file.contains("docker build -t headstart:latest ."))
        for doc in ["README.md", "docs/distributed.md"] {
            XCTAssertTrue(try text(doc).contains("docker build -t headstart:latest ."), doc)
        }
        for manifest in ["pipelines/k8s-extract.yaml", "pipelines/k8s-merge.yaml", "pipelines/k8s-sweep.yaml", "pipelines/k8s-sweep-merge.yaml"] {
            let images = try text(manifest).split(separator: "\n").filter { $0.contains("image:") }
            XCTAssertFalse(images.isEmpty, manifest)
            for line in images { XCTAssertTrue(line.contains("image: headstart:latest"), "\(manifest): \(line)") }
        }
    }

    /// scripts/test builds the release binary as the Containerfile builds it (swift build -c release
    /// --static-swift-stdlib) and names it in $HEADSTART_RELEASE_BINARY.
    func testTheRuntimePackagesCoverWhatLddReportsForTheReleaseBinary() throws {
        guard let binary = ProcessInfo.processInfo.environment["HEADSTART_RELEASE_BINARY"] else {
            throw XCTSkip("HEADSTART_RELEASE_BINARY is not set: scripts/test builds the release binary as the Containerfile does (swift build -c release --static-swift-stdlib) and sets it")
        }
        let r = try check(binary)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("every library ldd reports for \(binary) comes with Containerfile's runtime packages"), r.stdout)
    }

    func testAPackageMissingFromTheImageIsNamedWithItsLibrary() throws {
        let file = try text("Containerfile")
        XCTAssertTrue(file.contains(" liblmdb0 "))
        let without = try CLI.temporaryDirectory().appendingPathComponent("Containerfile")
        try file.replacingOccurrences(of: " liblmdb0 ", with: " ").write(to: without, atomically: true, encoding: .utf8)
        let r = try check(CLI.executable.path, containerfile: without.path)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("not covered: liblmdb.so.0 ("), r.stdout)
        XCTAssertTrue(r.stdout.contains("is in package liblmdb0, which \(without.path)'s runtime stage does not install"), r.stdout)
    }

    func testASwiftRuntimeLinkedDynamicallyIsRefusedAsInNoDebianPackage() throws {
        // This test bundle links the Swift runtime from the toolchain dynamically, as a plain `swift build` does.
        let r = try check(CommandLine.arguments[0])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("not covered: libswiftCore.so ("), r.stdout)
        XCTAssertTrue(r.stdout.contains("is in no Debian package: link it statically (the Swift runtime: --static-swift-stdlib)"), r.stdout)
    }
}
