import Foundation

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

    private func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

/// Writes a line to standard error.
func warn(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
