import CLinuxUAPI
import Foundation
import Netlink
import Sites

/// Why an nftables operation failed.
public enum NFTablesError: Error, CustomStringConvertible, Equatable, Sendable {
    /// libnftables.so.1 could not be loaded (or lacks a function); the text is the loader's.
    case unavailable(String)
    /// nft refused a script: which one (its first line and length), and nft's own error text verbatim.
    case failed(command: String, message: String)

    /// The message for a user: the library and the package to install, or the command and what nft said.
    public var description: String {
        switch self {
        case .unavailable(let why):
            return "libnftables.so.1 could not be loaded (\(why)); Isthmus applies its filters through it: "
                + "install it with `apt install nftables`"
        case .failed(let command, let message):
            return "nft: \(command) failed:\n\(message)"
        }
    }
}

/// libnftables in process: nft scripts run as single transactions without spawning `nft`.
///
/// A context opens its netlink socket when it is created (libnftables 1.0.6 does so in `nft_ctx_new`), in the
/// calling thread's network namespace, and keeps using that socket: to manage another namespace, create the
/// instance inside it — `try NFTables.inNamespace("site") { try NFTables() }` — and then use it from any thread.
/// Calls are serialised by a lock (a libnftables context is not thread-safe).
public final class NFTables: @unchecked Sendable {
    private let ctx: OpaquePointer
    private let lock = NSLock()

    /// Loads libnftables (once per process) and creates a context in the calling thread's network namespace.
    public init() throws(NFTablesError) {
        guard isthmus_nft_load() == 0 else { throw .unavailable(String(cString: isthmus_nft_load_error())) }
        guard let ctx = isthmus_nft_new() else {
            throw .failed(command: "nft_ctx_new", message: "libnftables could not create a context")
        }
        self.ctx = ctx
    }

    deinit { isthmus_nft_free(ctx) }

    /// Runs `body` on the current thread inside network namespace `netns` (nil: the current one), like `ip -n`.
    public static func inNamespace<T>(_ netns: String?, _ body: () throws -> T) throws -> T {
        try NetworkNamespace.with(netns, body)
    }

    /// Runs an nft script (one transaction) and returns what it printed; `json` selects nft's JSON output.
    @discardableResult
    public func run(_ script: String, json: Bool = false) throws(NFTablesError) -> String {
        try run(script, flags: json ? ISTHMUS_NFT_OUTPUT_JSON : 0)
    }

    /// Runs a script with libnftables output flags.
    private func run(_ script: String, flags: UInt32) throws(NFTablesError) -> String {
        lock.lock()
        defer { lock.unlock() }
        let rc = isthmus_nft_run(ctx, script, flags)
        let output = String(cString: isthmus_nft_output(ctx))
        let error = String(cString: isthmus_nft_error(ctx))
        guard rc == 0 else {
            var message = error
            while message.last?.isNewline == true { message.removeLast() }
            if message.isEmpty { message = "nft returned \(rc) without an error message" }
            throw .failed(command: Self.summary(script), message: message)
        }
        return output
    }

    /// Creates or atomically replaces the ruleset's table; a ruleset without rules removes the table instead.
    public func apply(_ r: FilterRuleset) throws(NFTablesError) {
        if r.script.isEmpty { try delete(r) } else { try run(r.script) }
    }

    /// Removes the ruleset's table; no error if it is absent.
    public func delete(_ r: FilterRuleset) throws(NFTablesError) {
        do {
            try run(r.deleteScript)
        } catch {
            if let present = try? tablePresent(r), !present { return }
            throw error
        }
    }

    /// Whether the ruleset's table exists (false also when nft cannot be asked).
    public func exists(_ r: FilterRuleset) -> Bool { (try? tablePresent(r)) ?? false }

    /// The table's named counters as the kernel holds them (from nft's JSON listing); fails if the table is absent.
    public func counters(_ r: FilterRuleset) throws(NFTablesError) -> [String: (packets: UInt64, bytes: UInt64)] {
        let command = "list table \(r.family) \(r.table)"
        let text = try run(command, json: true)
        guard let root = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let items = root["nftables"] as? [Any]
        else { throw .failed(command: command, message: "unexpected JSON output: \(text.prefix(200))") }
        var result: [String: (packets: UInt64, bytes: UInt64)] = [:]
        for case let item as [String: Any] in items {
            guard let c = item["counter"] as? [String: Any], c["table"] as? String == r.table,
                  c["family"] as? String == r.family, let name = c["name"] as? String,
                  let packets = c["packets"] as? NSNumber, let bytes = c["bytes"] as? NSNumber
            else { continue }
            result[name] = (packets.uint64Value, bytes.uint64Value)
        }
        return result
    }

    /// nft's text listing of the table without counter values (stable while traffic flows, and a script that
    /// recreates the table), or nil if it is absent.
    public func ruleset(_ r: FilterRuleset) throws(NFTablesError) -> String? {
        try listing(family: r.family, table: r.table)
    }

    /// nft's stateless text listing of table `family name`, or nil if it is absent (any table this process owns:
    /// a segment's filters, a hub's transit).
    public func listing(family: String, table: String) throws(NFTablesError) -> String? {
        guard try tablePresent(family: family, table: table) else { return nil }
        return try run("list table \(family) \(table)", flags: ISTHMUS_NFT_OUTPUT_STATELESS)
    }

    private func tablePresent(_ r: FilterRuleset) throws(NFTablesError) -> Bool {
        try tablePresent(family: r.family, table: r.table)
    }

    /// Whether `list tables FAMILY` shows the table; throws only when nft itself fails.
    private func tablePresent(family: String, table: String) throws(NFTablesError) -> Bool {
        let listing = try run("list tables \(family)")
        let line = "table \(family) \(table)"
        return listing.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == line }
    }

    /// A script as an error names it: its first line, and how many lines follow.
    static func summary(_ script: String) -> String {
        let lines = script.split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first else { return "empty script" }
        return lines.count == 1 ? "`\(first)`" : "`\(first)` (script of \(lines.count) lines)"
    }
}
