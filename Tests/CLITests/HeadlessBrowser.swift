import Extract
import Foundation
import XCTest

/// Debian's chromium, headless, for tests of HTML output (scripts/test installs it; tests skip without it).
struct HeadlessBrowser {
    let executable: URL

    static func find() throws -> HeadlessBrowser {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["HEADSTART_CHROMIUM"], "/usr/bin/chromium", "/usr/bin/chromium-browser"].compactMap { $0 }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no chromium (apt-get install chromium, or set HEADSTART_CHROMIUM); the report was not rendered")
        }
        return HeadlessBrowser(executable: URL(fileURLWithPath: path))
    }

    private func run(_ arguments: [String]) throws -> CLI.Result {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("headstart-chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        return try CLI.process(executable, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                           "--user-data-dir=\(profile.path)"] + arguments)
    }

    /// The page's DOM after loading (scripts run, images decoded).
    func dumpDOM(_ page: URL) throws -> String {
        let r = try run(["--dump-dom", page.absoluteString])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout
    }

    /// A 1100×3000 screenshot of the page, decoded.
    func screenshot(_ page: URL, into dir: URL) throws -> RGBImage {
        let png = dir.appendingPathComponent("screenshot-\(UUID().uuidString).png")
        let r = try run(["--window-size=1100,3000", "--screenshot=\(png.path)", page.absoluteString])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try ImageDecoder.decode(path: png.path).image
    }
}

extension RGBImage {
    /// Pixels within ±24 of `colour` in every channel.
    func pixels(near colour: (UInt8, UInt8, UInt8)) -> Int {
        var n = 0
        for i in stride(from: 0, to: pixels.count, by: 3)
        where abs(Int(pixels[i]) - Int(colour.0)) <= 24 && abs(Int(pixels[i + 1]) - Int(colour.1)) <= 24
            && abs(Int(pixels[i + 2]) - Int(colour.2)) <= 24 {
            n += 1
        }
        return n
    }
}
