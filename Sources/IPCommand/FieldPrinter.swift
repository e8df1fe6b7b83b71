/// One call per field that feeds both the text and the JSON of an object's output — iproute2's
/// `print_*(PRINT_ANY, key, fmt, value)`: the text is written as ip's format writes it (`"label value "`, each field
/// ending in its space), the JSON gets `key: value`. A field absent from the message (a nil value) is skipped in both.
/// `text(_:)` and `jsonOnly(_:_:)` are ip's PRINT_FP and PRINT_JSON, for what only one of the two shows.
struct FieldPrinter {
    private(set) var text = ""
    private(set) var json = JSONObject()

    init() {}

    /// A field whose text is not `label value ` (`state (7) ` / `"state_index": 7`, `via inet 10.0.0.1 ` / an object):
    /// `text` as given, `value` under `key`. Nothing when `value` is nil.
    mutating func field(_ key: String, _ value: JSON?, text: @autoclosure () -> String) {
        guard let value else { return }
        self.text += text(); json.set(key, value)
    }

    /// `label value ` (`value ` without a label) in the text, the string in the JSON.
    mutating func string(_ key: String, _ label: String?, _ value: String?) {
        guard let value else { return }
        words(label, value); json.set(key, value)
    }

    /// `label value ` in the text, the number in the JSON, both in decimal.
    mutating func number<T: BinaryInteger>(_ key: String, _ label: String?, _ value: T?) {
        guard let value else { return }
        words(label, "\(value)"); json.set(key, JSON(value))
    }

    /// A flag: its word in the text, `true` in the JSON (print_bool). Nothing when not set.
    mutating func flag(_ key: String, _ word: String, _ set: Bool) {
        guard set else { return }
        text += word + " "; json.set(key, true)
    }

    /// A flag: its word in the text, `null` in the JSON (print_null). Nothing when not set.
    mutating func null(_ key: String, _ word: String, _ set: Bool) {
        guard set else { return }
        text += word + " "; json.set(key, JSON.null)
    }

    /// `label on|off` in the text, a boolean in the JSON (print_on_off).
    mutating func onOff(_ key: String, _ label: String, _ value: UInt8?) {
        guard let value else { return }
        words(label, value != 0 ? "on" : "off"); json.set(key, value != 0)
    }

    /// `%#llx` in both (print_0xhex): "0" for zero, else "0x" and lowercase hex.
    mutating func hex(_ key: String, _ label: String, _ value: UInt64?) {
        guard let value else { return }
        let s = value == 0 ? "0" : "0x" + String(value, radix: 16)
        words(label, s); json.set(key, s)
    }

    /// A bridge timer in jiffies of 1/100 s: text `%4i.%.2i`, JSON the same number unpadded.
    mutating func timer(_ key: String, _ jiffies: UInt64?) {
        guard let jiffies else { return }
        // Whole seconds and hundredths straight from the jiffies (ip goes through microseconds, which would overflow
        // a UInt64 above ~1.8e15 jiffies; the digits are the same).
        let sec = jiffies / 100, centi = jiffies % 100
        let value = "\(sec)." + (centi < 10 ? "0" : "") + "\(centi)"
        text += "\(key) " + String(repeating: " ", count: max(0, 7 - value.count)) + value + " "
        json.set(key, JSON.number(value))
    }

    /// Text only (PRINT_FP): line breaks, indentation, words ip prints for people alone.
    mutating func text(_ s: String) { text += s }

    /// JSON only (PRINT_JSON). Nothing when `value` is nil.
    mutating func jsonOnly(_ key: String, _ value: JSON?) { json.set(key, value) }

    /// The text without the space its last field ended in, and the JSON: a link kind's `-d` data as
    /// `LinkKind.describe` returns it (the caller adds ip's space).
    var details: (text: String, json: JSONObject) {
        (text.hasSuffix(" ") ? String(text.dropLast()) : text, json)
    }

    private mutating func words(_ label: String?, _ value: String) {
        if let label { text += label + " " }
        text += value + " "
    }
}

extension Session {
    /// One object's output: its JSON with -j, else its text (one line, or several separated by "\n").
    func emit(_ p: FieldPrinter) {
        if options.json { emit(p.json.json) } else { print(p.text) }
    }
}
