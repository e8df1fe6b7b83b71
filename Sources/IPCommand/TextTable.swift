/// A table a person can scan: a header row of upper-case column names, then rows, each column as wide as its widest
/// cell, two spaces between columns, no trailing blanks. Empty cells print as "-" unless the column is the last one
/// (where nothing at all is clearer). `isthmus status` and `isthmus l2tp show` print with it; scripts use `-j`.
public struct TextTable {
    public var columns: [String]
    public private(set) var rows: [[String]] = []

    public init(_ columns: [String]) { self.columns = columns }

    /// Appends a row; missing cells are empty, extra cells are an error of the caller and are dropped.
    public mutating func add(_ cells: [String]) {
        var r = Array(cells.prefix(columns.count))
        while r.count < columns.count { r.append("") }
        rows.append(r)
    }

    public var lines: [String] {
        let last = columns.count - 1
        let shown = rows.map { r in r.enumerated().map { $0.offset < last && $0.element.isEmpty ? "-" : $0.element } }
        var widths = columns.map(\.count)
        for r in shown { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            var s = ""
            for (i, c) in cells.enumerated() {
                s += i < last ? c + String(repeating: " ", count: widths[i] - c.count + 2) : c
            }
            while s.last == " " { s.removeLast() }
            return s
        }
        return [line(columns)] + shown.map(line)
    }

    /// An age or a duration in the largest two units ("45s", "3m12s", "2h05m", "4d03h").
    public static func age(_ seconds: Int) -> String {
        let s = max(0, seconds)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86400 { return "\(s / 3600)h\(two(s % 3600 / 60))m" }
        return "\(s / 86400)d\(two(s % 86400 / 3600))h"
    }

    /// A byte count with a decimal unit, as a person reads it ("512 B", "1.4 kB", "12.0 MB").
    public static func bytes(_ n: UInt64) -> String {
        if n < 1000 { return "\(n) B" }
        let units = ["kB", "MB", "GB", "TB", "PB", "EB"]
        var v = Double(n) / 1000, u = 0
        while v >= 999.95 && u < units.count - 1 { v /= 1000; u += 1 }
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[u])"
    }
}
