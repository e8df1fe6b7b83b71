/// One problem in a config file: `FILE:LINE:COLUMN: message`, then a hint on how to fix it.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var position: TOMLPosition
    public var message: String
    public var hint: String

    public init(file: String, position: TOMLPosition, message: String, hint: String = "") {
        self.file = file; self.position = position; self.message = message; self.hint = hint
    }

    public var description: String {
        "\(file):\(position.line):\(position.column): \(message)" + (hint.isEmpty ? "" : "\n  hint: \(hint)")
    }
}

/// Every problem found in one pass, in file order.
public struct ConfigErrors: Error, Equatable, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]
    public init(_ errors: [ConfigError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
