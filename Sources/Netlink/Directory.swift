#if canImport(Glibc)
import Glibc
#endif

/// A directory's entries as readdir(3) returns them.
public enum Directory {
    /// The entries of `path` without "." and "..", in directory order; none when it cannot be read.
    public static func entries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
