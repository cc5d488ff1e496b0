import Foundation
import Pipeline

/// Progress on standard error: a bar redrawn in place on a terminal, a plain line every few seconds otherwise.
final class ProgressReporter {
    private let label: String
    private let terminal = isatty(fileno(stderr)) != 0
    private var lastLine = 0.0
    private let interval: Double

    init(_ label: String, interval: Double = 5) { self.label = label; self.interval = interval }

    func update(done: Int, total: Int, elapsed: Double, detail: String) {
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let text = String(format: "%@ %d/%d  %.1f images/s  ETA %@  %@", label, done, total, rate, clock(eta), detail)
        if terminal {
            let width = 24, filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(bar) \(text)".utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else if elapsed - lastLine >= interval || done >= total {
            lastLine = elapsed
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    /// An extraction's progress, counted over the files it opens: those unchanged by their stat data cost
    /// nothing, and an ETA that counted them would lie.
    func update(_ p: ExtractionProgress, views: Bool) {
        guard p.toRead > 0 else { return }
        update(done: p.read, total: p.toRead, elapsed: p.elapsed,
               detail: "\(p.extracted) extracted, \(p.reused) reused (\(p.unchangedByStat) unchanged by stat), \(p.failed) skipped"
                   + (views ? "; views \(p.viewsExtracted) extracted, \(p.viewsReused) reused" : ""))
    }

    private func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// Writes a line to standard error.
func warn(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
