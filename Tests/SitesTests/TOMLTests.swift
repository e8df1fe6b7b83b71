import Sites
import Testing
import TestSupport

private func parse(_ text: String) throws(TOMLError) -> TOMLTable {
    try TOML.parse(text, file: "site.toml")
}

private func pos(_ line: Int, _ column: Int) -> TOMLPosition { TOMLPosition(line: line, column: column) }

private let siteConfig = """
# Isthmus site configuration
[site]
name = "lab-east"              # shown in plans
description = \"\"\"
Two sites joined by VXLAN \\
and an L2TPv3 backup.\"\"\"
underlay_mtu = 1_500
created = 2024-03-01T12:30:00Z

[defaults]
ttl = 64
df = true
timeouts = { connect = 2.5, idle = 30 }

[[tunnels]]
id = "east-west"
kind = "vxlan"
vni = 0x1F40
local = "192.0.2.1"
remote = '198.51.100.7'
ports = [
  4789,   # IANA
  8472,   # Linux default
]
peer.name = "west"
peer.asn = 64_512

[[tunnels]]
id = "backup"
kind = "l2tpv3-ip"
cookie = "0x1234abcd"
session = { local = 10, remote = 20 }
bridges = ["br-lan", "br-iot"]

[tunnels.mss]
clamp = true

[interfaces.eth0]
addresses = ["192.0.2.1/24", "2001:db8::1/64"]
"""

@Suite("TOML parser: valid documents")
struct TOMLValidTests {
    @Test("a realistic site config: values, order and positions")
    func siteConfigValues() throws {
        let doc = try parse(siteConfig)
        #expect(doc.keys == ["site", "defaults", "tunnels", "interfaces"])
        #expect(doc.origin == .root)

        let site = try #require(doc["site"]?.table)
        #expect(doc["site"]?.position == pos(2, 1))
        #expect(site.origin == .header)
        #expect(site["name"]?.string == "lab-east")
        #expect(site["name"]?.position == pos(3, 8))
        #expect(site[entry: "name"]?.keyPosition == pos(3, 1))
        #expect(site["description"]?.string == "Two sites joined by VXLAN and an L2TPv3 backup.")
        #expect(site["description"]?.position == pos(4, 15))
        #expect(site["underlay_mtu"]?.integer == 1500)
        #expect(site["underlay_mtu"]?.position == pos(7, 16))
        #expect(site["created"]?.datetime == "2024-03-01T12:30:00Z")

        let defaults = try #require(doc["defaults"]?.table)
        #expect(defaults["df"]?.boolean == true)
        let timeouts = try #require(defaults["timeouts"]?.table)
        #expect(timeouts.origin == .inline)
        #expect(defaults["timeouts"]?.position == pos(13, 12))
        #expect(timeouts["connect"]?.float == 2.5)
        #expect(timeouts["idle"]?.integer == 30)
        #expect(timeouts[entry: "idle"]?.keyPosition == pos(13, 29))

        let tunnels = try #require(doc["tunnels"]?.array)
        #expect(tunnels.count == 2)
        #expect(doc["tunnels"]?.position == pos(15, 1))
        #expect(tunnels[0].position == pos(15, 1))
        #expect(tunnels[1].position == pos(28, 1))
        let first = try #require(tunnels[0].table)
        #expect(first.origin == .arrayElement)
        #expect(first["vni"]?.integer == 8000)
        #expect(first["remote"]?.string == "198.51.100.7")
        #expect(first["ports"]?.array?.compactMap(\.integer) == [4789, 8472])
        #expect(first["ports"]?.array?[1].position == pos(23, 3))
        #expect(first[path: ["peer", "name"]]?.string == "west")
        #expect(first[path: ["peer", "asn"]]?.integer == 64512)
        #expect(first["peer"]?.table?.origin == .dotted)
        #expect(first["peer"]?.position == pos(25, 1))
        let second = try #require(tunnels[1].table)
        #expect(second["cookie"]?.string == "0x1234abcd")
        #expect(second[path: ["session", "remote"]]?.integer == 20)
        #expect(second[path: ["mss", "clamp"]]?.boolean == true)
        #expect(second["mss"]?.position == pos(35, 1))

        let interfaces = try #require(doc["interfaces"]?.table)
        #expect(interfaces.origin == .implicit)
        #expect(interfaces.position == pos(38, 2))
        #expect(interfaces["eth0"]?.table?.origin == .header)
        #expect(interfaces[path: ["eth0", "addresses"]]?.array?.compactMap(\.string) == ["192.0.2.1/24", "2001:db8::1/64"])
    }

    @Test("keys: bare, quoted, literal, dotted with whitespace, empty quoted, digits")
    func keys() throws {
        let doc = try parse("""
        bare_key-1 = 1
        "quoted key" = 2
        'literal "key"' = 3
        a . b . "c.d" = 4
        "" = 5
        1234 = 6
        3.14 = 7
        "\\u00e9t\\u00e9" = 8
        """)
        #expect(doc["bare_key-1"]?.integer == 1)
        #expect(doc["quoted key"]?.integer == 2)
        #expect(doc["literal \"key\""]?.integer == 3)
        #expect(doc[path: ["a", "b", "c.d"]]?.integer == 4)
        #expect(doc[""]?.integer == 5)
        #expect(doc["1234"]?.integer == 6)
        #expect(doc[path: ["3", "14"]]?.integer == 7)
        #expect(doc["été"]?.integer == 8)
        #expect(doc[entry: "été"]?.keyPosition == pos(8, 1))
        #expect(doc[path: ["a", "b"]]?.position == pos(4, 5))
    }

    @Test("basic strings and every escape")
    func basicStrings() throws {
        let doc = try parse(#"""
        s = "tab\there \"q\" back\\slash \b\f\n\r end"
        u = "\u00E9\U0001F600 \u0041"
        empty = ""
        tabbed = "a	b"
        unicode = "γειά σου"
        """#)
        #expect(doc["s"]?.string == "tab\there \"q\" back\\slash \u{8}\u{C}\n\r end")
        #expect(doc["u"]?.string == "é😀 A")
        #expect(doc["empty"]?.string == "")
        #expect(doc["tabbed"]?.string == "a\tb")
        #expect(doc["unicode"]?.string == "γειά σου")
    }

    @Test("multi-line basic strings: leading newline, line-ending backslash, quotes before the close")
    func multilineBasic() throws {
        let doc = try parse(#"""
        a = """
        Roses are red
        Violets are blue"""
        b = """\
               The quick \
               brown fox.\
               """
        c = """Here are two quotation marks: "". Simple enough."""
        d = """Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"."""
        e = """"This," she said, "is just a pointless statement.""""
        f = """x\   
            y"""
        """#)
        #expect(doc["a"]?.string == "Roses are red\nViolets are blue")
        #expect(doc["b"]?.string == "The quick brown fox.")
        #expect(doc["c"]?.string == "Here are two quotation marks: \"\". Simple enough.")
        #expect(doc["d"]?.string == "Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\".")
        #expect(doc["e"]?.string == "\"This,\" she said, \"is just a pointless statement.\"")
        #expect(doc["f"]?.string == "xy")
        #expect(doc["b"]?.position == pos(4, 5))
        #expect(doc["c"]?.position == pos(8, 5))
    }

    @Test("literal strings and multi-line literal strings")
    func literalStrings() throws {
        let doc = try parse(#"""
        winpath = 'C:\Users\nodejs\templates'
        quoted = 'Tom "Dubs" Preston-Werner'
        regex = '<\i\c*\s*>'
        lines = '''
        The first newline is
        trimmed in raw strings.
           All other whitespace
           is preserved.
        '''
        quotes = '''Here are two apostrophes: ''.'''
        """#)
        #expect(doc["winpath"]?.string == #"C:\Users\nodejs\templates"#)
        #expect(doc["quoted"]?.string == #"Tom "Dubs" Preston-Werner"#)
        #expect(doc["regex"]?.string == #"<\i\c*\s*>"#)
        #expect(doc["lines"]?.string == "The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n")
        #expect(doc["quotes"]?.string == "Here are two apostrophes: ''.")
        let more = try parse("a = ''''That,' she said, 'is still pointless.''''")
        #expect(more["a"]?.string == "'That,' she said, 'is still pointless.'")
    }

    @Test("integers: signs, underscores, hex/octal/binary, 64-bit limits")
    func integers() throws {
        let doc = try parse("""
        a = +99
        b = 42
        c = 0
        d = -17
        e = 1_000
        f = 5_349_221
        g = 1_2_3_4_5
        h = 0xDEADBEEF
        i = 0xdead_beef
        j = 0o01234567
        k = 0o755
        l = 0b11010110
        m = 9223372036854775807
        n = -9223372036854775808
        o = +0
        p = -0
        q = 0x7FFFFFFFFFFFFFFF
        """)
        let expected: [(String, Int64)] = [
            ("a", 99), ("b", 42), ("c", 0), ("d", -17), ("e", 1000), ("f", 5_349_221), ("g", 12345),
            ("h", 0xDEADBEEF), ("i", 0xDEADBEEF), ("j", 0o1234567), ("k", 0o755), ("l", 0b11010110),
            ("m", .max), ("n", .min), ("o", 0), ("p", 0), ("q", .max),
        ]
        for (key, value) in expected { #expect(doc[key]?.integer == value, "\(key)") }
    }

    @Test("floats: fractions, exponents, underscores, inf and nan")
    func floats() throws {
        let doc = try parse("""
        a = +1.0
        b = 3.1415
        c = -0.01
        d = 5e+22
        e = 1e06
        f = -2E-2
        g = 6.626e-34
        h = 224_617.445_991_228
        i = inf
        j = +inf
        k = -inf
        l = nan
        m = -nan
        n = 0.0
        o = -0.0
        p = 1e1_0
        """)
        #expect(doc["a"]?.float == 1.0)
        #expect(doc["b"]?.float == 3.1415)
        #expect(doc["c"]?.float == -0.01)
        #expect(doc["d"]?.float == 5e22)
        #expect(doc["e"]?.float == 1e6)
        #expect(doc["f"]?.float == -2e-2)
        #expect(doc["g"]?.float == 6.626e-34)
        #expect(doc["h"]?.float == 224_617.445_991_228)
        #expect(doc["i"]?.float == .infinity)
        #expect(doc["j"]?.float == .infinity)
        #expect(doc["k"]?.float == -.infinity)
        #expect(doc["l"]?.float?.isNaN == true)
        #expect(doc["m"]?.float?.isNaN == true)
        #expect(doc["n"]?.float == 0)
        #expect(doc["o"]?.float?.sign == .minus)
        #expect(doc["p"]?.float == 1e10)
    }

    @Test("booleans and date-times of every kind")
    func datetimes() throws {
        let doc = try parse("""
        t = true
        f = false
        odt1 = 1979-05-27T07:32:00Z
        odt2 = 1979-05-27T00:32:00-07:00
        odt3 = 1979-05-27T00:32:00.999999+07:00
        odt4 = 1979-05-27 07:32:00z
        ldt1 = 1979-05-27T07:32:00
        ldt2 = 1979-05-27t00:32:00.999999
        ld = 2024-02-29
        lt1 = 07:32:00
        lt2 = 00:32:00.999999
        arr = [1979-05-27, 07:32:00, 1979-05-27 07:32:00]
        """)
        #expect(doc["t"]?.boolean == true)
        #expect(doc["f"]?.boolean == false)
        for (key, text) in [("odt1", "1979-05-27T07:32:00Z"), ("odt2", "1979-05-27T00:32:00-07:00"),
                            ("odt3", "1979-05-27T00:32:00.999999+07:00"), ("odt4", "1979-05-27 07:32:00z"),
                            ("ldt1", "1979-05-27T07:32:00"), ("ldt2", "1979-05-27t00:32:00.999999"),
                            ("ld", "2024-02-29"), ("lt1", "07:32:00"), ("lt2", "00:32:00.999999")] {
            #expect(doc[key]?.datetime == text, "\(key)")
        }
        #expect(doc["arr"]?.array?.compactMap(\.datetime) == ["1979-05-27", "07:32:00", "1979-05-27 07:32:00"])
        #expect(doc["odt4"]?.value.typeName == "date-time")
    }

    @Test("arrays: mixed types, nesting, trailing comma, newlines and comments inside")
    func arrays() throws {
        let doc = try parse("""
        ints = [ 1, 2, 3 ]
        empty = [ ]
        nested = [ [ 1, 2 ], ["a", 'b'], [[]] ]
        mixed = [ 0.1, "x", true, { k = 1 }, [2] ]
        multi = [
          1, # one
          # a comment line
          2,
        ]
        crammed = [1,2,3,]
        """)
        #expect(doc["ints"]?.array?.compactMap(\.integer) == [1, 2, 3])
        #expect(doc["ints"]?.array?.map(\.position) == [pos(1, 10), pos(1, 13), pos(1, 16)])
        #expect(doc["empty"]?.array?.isEmpty == true)
        let nested = try #require(doc["nested"]?.array)
        #expect(nested.count == 3)
        #expect(nested[1].array?.compactMap(\.string) == ["a", "b"])
        #expect(nested[2].array?.first?.array?.isEmpty == true)
        let mixed = try #require(doc["mixed"]?.array)
        #expect(mixed.map(\.value.typeName) == ["float", "string", "boolean", "table", "array"])
        #expect(mixed[3].table?["k"]?.integer == 1)
        #expect(mixed[3].position == pos(4, 27))
        #expect(doc["multi"]?.array?.compactMap(\.integer) == [1, 2])
        #expect(doc["multi"]?.array?.last?.position == pos(8, 3))
        #expect(doc["crammed"]?.array?.count == 3)
    }

    @Test("inline tables: empty, nested, dotted keys inside")
    func inlineTables() throws {
        let doc = try parse("""
        name = { first = "Tom", last = "Preston-Werner" }
        point = {x=1,y=2}
        empty = {}
        animal = { type.name = "pug", type.size = "small" }
        nested = { a = { b = { c = 1 } } }
        """)
        #expect(doc[path: ["name", "last"]]?.string == "Preston-Werner")
        #expect(doc[path: ["point", "y"]]?.integer == 2)
        #expect(doc["empty"]?.table?.isEmpty == true)
        #expect(doc[path: ["animal", "type", "size"]]?.string == "small")
        #expect(doc[path: ["nested", "a", "b", "c"]]?.integer == 1)
        #expect(doc[path: ["nested", "a", "b", "c"]]?.position == pos(5, 28))
    }

    @Test("tables: implicit super-tables, defining them later, dotted sub-tables, arrays of tables with sub-tables")
    func tables() throws {
        let doc = try parse("""
        [x.y.z.w]
        a = 1
        [x]
        b = 2
        [fruit]
        apple.color = "red"
        apple.taste.sweet = true
        [fruit.apple.texture]
        smooth = true
        [[fruits]]
        name = "apple"
        [fruits.physical]
        color = "red"
        [[fruits.varieties]]
        name = "red delicious"
        [[fruits.varieties]]
        name = "granny smith"
        [[fruits]]
        name = "banana"
        [[fruits.varieties]]
        name = "plantain"
        [ j . "ʞ" . 'l' ]
        [a.b.c]
        z = 9
        [a]
        b.d = 1
        """)
        #expect(doc[path: ["x", "y", "z", "w", "a"]]?.integer == 1)
        #expect(doc[path: ["x", "b"]]?.integer == 2)
        #expect(doc["x"]?.position == pos(3, 1))
        #expect(doc["x"]?.table?.origin == .header)
        #expect(doc[path: ["x", "y"]]?.table?.origin == .implicit)
        #expect(doc[path: ["x", "y"]]?.position == pos(1, 4))
        #expect(doc[path: ["fruit", "apple", "taste", "sweet"]]?.boolean == true)
        #expect(doc[path: ["fruit", "apple", "texture", "smooth"]]?.boolean == true)
        let fruits = try #require(doc["fruits"]?.array)
        #expect(fruits.count == 2)
        #expect(fruits[0].table?[path: ["physical", "color"]]?.string == "red")
        #expect(fruits[0].table?["varieties"]?.array?.compactMap { $0.table?["name"]?.string } == ["red delicious", "granny smith"])
        #expect(fruits[1].table?["varieties"]?.array?.compactMap { $0.table?["name"]?.string } == ["plantain"])
        #expect(fruits[1].position == pos(18, 1))
        #expect(doc[path: ["j", "ʞ", "l"]]?.table?.isEmpty == true)
        #expect(doc[path: ["a", "b", "c", "z"]]?.integer == 9)
        #expect(doc[path: ["a", "b", "d"]]?.integer == 1)
    }

    @Test("CRLF line endings, comments everywhere, a BOM, an empty document")
    func crlfAndComments() throws {
        let doc = try parse("\u{FEFF}# c\r\n[t] # c\r\na = \"x\" # c\r\nb = \"\"\"\r\nl1\r\nl2\"\"\"\r\nc = [\r\n 1, # c\r\n 2\r\n]\r\n")
        #expect(doc[path: ["t", "a"]]?.string == "x")
        #expect(doc[path: ["t", "b"]]?.string == "l1\nl2")
        #expect(doc[path: ["t", "c"]]?.array?.count == 2)
        #expect(doc["t"]?.position == pos(2, 1))
        #expect(doc[path: ["t", "c"]]?.array?.last?.position == pos(9, 2))
        #expect(try parse("").isEmpty)
        #expect(try parse("# only a comment").isEmpty)
        #expect(try parse("\n\n   \t\n").isEmpty)
        #expect(try parse("a=1").count == 1)
        #expect(try parse("a = 1 # comment with tab\tand unicode é").count == 1)
    }

    @Test("nesting up to the limit is fine")
    func depthAtLimit() throws {
        let n = TOML.maxDepth
        let doc = try parse("a = " + String(repeating: "[", count: n - 1) + String(repeating: "]", count: n - 1))
        #expect(doc["a"]?.array != nil)
    }

    @Test("error description is FILE:LINE:COLUMN: message")
    func errorDescription() {
        #expect(throws: TOMLError.self) { try parse("a = 1\nb") }
        do {
            _ = try TOML.parse("id = 1\nid = 2\n", file: "sites/lab.toml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "sites/lab.toml:2:1: duplicate key \"id\" (first defined at line 1)")
            #expect(error.file == "sites/lab.toml")
        }
    }
}

@Suite("TOML parser: invalid documents")
struct TOMLInvalidTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let text: String, line: Int, column: Int, message: String
        init(_ text: String, _ line: Int, _ column: Int, _ message: String) {
            self.text = text; self.line = line; self.column = column; self.message = message
        }
        var testDescription: String { "\(line):\(column) \(message)" }
    }

    static let cases: [Case] = [
        // Keys and key/value syntax
        Case("remote \"x\"", 1, 8, #"expected "=" after key "remote", found """#),
        Case("a = 1\nb", 2, 2, #"expected "=" after key "b", found end of file"#),
        Case("= 1", 1, 1, #"expected a key, found "=""#),
        Case("a. = 1", 1, 4, #"expected a key after ".", found "=""#),
        Case("a = ", 1, 5, #"expected a value after "a =", found end of file"#),
        Case("a = # nothing", 1, 5, ##"expected a value after "a =", found "#""##),
        Case("a = 1 b = 2", 1, 7, #"unexpected "b" after value (expected a newline)"#),
        Case("\"\"\"k\"\"\" = 1", 1, 1, "multi-line strings cannot be used as keys"),
        Case("a = eth0", 1, 5, #"invalid value eth0 (text must be quoted: "eth0""#),
        Case("a = 10.0.0.1", 1, 5, #"invalid value 10.0.0.1 (text must be quoted: "10.0.0.1")"#),
        Case("a = True", 1, 5, "invalid value True"),
        // Redefinitions
        Case("id = 1\nname = 2\nid = 3", 3, 1, #"duplicate key "id" (first defined at line 1)"#),
        Case("a.b = 1\na.b = 2", 2, 3, #"duplicate key "a.b" (first defined at line 1)"#),
        Case("a = 1\na.b = 2", 2, 1, #"key "a" is already an integer (defined at line 1), not a table"#),
        Case("[t]\nx = 1\n[t]", 3, 1, "table [t] is defined more than once (first defined at line 1)"),
        Case("[a.b]\n[a]\n[a]", 3, 1, "table [a] is defined more than once (first defined at line 2)"),
        Case("[a]\nb = 1\n[a.b]", 3, 1, #"cannot define [a.b]: key "a.b" is already an integer (defined at line 2)"#),
        Case("[fruit]\napple.color = 'red'\n[fruit.apple]", 3, 1, "cannot define table [fruit.apple]: it was already created by dotted keys at line 2"),
        Case("[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]", 3, 1, "cannot define table [fruit.apple.taste]: it was already created by dotted keys at line 2"),
        Case("[a.b.c]\nz = 9\n[a]\nb.c.t = 1", 4, 3, "cannot add keys to table [a.b.c] with dotted keys: it is defined by a header at line 1"),
        Case("a = {x = 1}\na.y = 2", 2, 1, #"cannot extend inline table "a" (defined at line 1)"#),
        Case("a = {x = 1}\n[a]", 2, 1, #"cannot define [a]: "a" is an inline table (defined at line 1), which cannot be extended"#),
        Case("a = {x = 1}\n[a.b]", 2, 2, #"cannot define [a.b]: "a" is an inline table (defined at line 1), which cannot be extended"#),
        Case("a = {x = {y = 1}, x.z = 2}", 1, 19, #"cannot extend inline table "x" (defined at line 1)"#),
        Case("a = {x = 1, x = 2}", 1, 13, #"duplicate key "x" (first defined at line 1)"#),
        Case("a = [1]\n[[a]]", 2, 1, #"cannot append to static array "a" (defined at line 1) with [[a]]"#),
        Case("[[a]]\n[a]", 2, 1, #"cannot define table [a]: "a" is an array of tables (defined at line 1)"#),
        Case("[a]\n[[a]]", 2, 3, #"cannot define array of tables [[a]]: "a" is already a table (defined at line 1)"#),
        Case("[[a]]\nb.c = 1\n[a.b]", 3, 1, "cannot define table [a.b]: it was already created by dotted keys at line 2"),
        Case("a = 1\n[a]", 2, 1, #"cannot define [a]: key "a" is already an integer (defined at line 1)"#),
        // Headers
        Case("[a", 1, 3, #"expected "]" to close table header [a], found end of file"#),
        Case("[[a]\nb = 1", 1, 5, #"expected "]]" to close array-of-tables header [[a]], found end of line"#),
        Case("[]", 1, 2, #"expected a key, found "]""#),
        Case("[a] b = 1", 1, 5, #"unexpected "b" after table header (expected a newline)"#),
        // Strings
        Case("a = \"abc", 1, 5, "unterminated string: missing closing \""),
        Case("a = \"abc\nb = 1", 1, 5, "unterminated string: missing closing \" before the end of the line"),
        Case("a = 'abc", 1, 5, "unterminated literal string: missing closing '"),
        Case("a = \"\"\"abc\n\nb = 1", 1, 5, "unterminated multi-line string: missing closing \"\"\""),
        Case("a = '''abc", 1, 5, "unterminated multi-line literal string: missing closing '''"),
        Case(#"a = "bad \x41""#, 1, 10, #"invalid escape "\x" (allowed:"#),
        Case(#"a = "bad \ud800""#, 1, 10, #"invalid escape \ud800: not a Unicode scalar value"#),
        Case(#"a = "\U00110000""#, 1, 6, #"invalid escape \U00110000: not a Unicode scalar value"#),
        Case(#"a = "\u12""#, 1, 6, #"invalid escape: \u needs exactly 4 hexadecimal digits"#),
        Case("a = \"\"\"x\\ y\"\"\"", 1, 9, #"invalid escape "\ " (allowed:"#),
        Case("a = \"nul\u{0}\"", 1, 9, "control character U+0000 must be escaped in a string"),
        Case("a = 'del\u{7F}'", 1, 9, "control character U+007F is not allowed in a literal string"),
        Case("a = 1 # bell\u{7}", 1, 13, "control character U+0007 is not allowed in a comment"),
        Case("a = 1\rb = 2", 1, 6, "carriage return not followed by a newline"),
        Case("a = \"\"\"x\ry\"\"\"", 1, 9, "carriage return not followed by a newline"),
        // Numbers
        Case("a = 012", 1, 5, "invalid integer 012: leading zeros are not allowed"),
        Case("a = -01", 1, 5, "invalid integer -01: leading zeros are not allowed"),
        Case("a = 1__0", 1, 5, "invalid integer 1__0: an underscore must be between digits"),
        Case("a = _1", 1, 5, "invalid value _1"),
        Case("a = 1_", 1, 5, "invalid integer 1_: an underscore must be between digits"),
        Case("a = 9223372036854775808", 1, 5, "integer 9223372036854775808 does not fit in 64 bits"),
        Case("a = -9223372036854775809", 1, 5, "integer -9223372036854775809 does not fit in 64 bits"),
        Case("a = 0x8000000000000000", 1, 5, "integer 0x8000000000000000 does not fit in 64 bits"),
        Case("a = +0x10", 1, 5, "invalid integer +0x10: a sign is not allowed on hexadecimal integers"),
        Case("a = 0b102", 1, 5, "invalid binary integer 0b102: unexpected \"2\""),
        Case("a = 0o", 1, 5, "invalid octal integer 0o: no digits"),
        Case("a = 0xG1", 1, 5, "invalid value 0xG1"),
        Case("a = 1.", 1, 5, "invalid float 1.: a digit must follow the decimal point"),
        Case("a = 1.e5", 1, 5, "invalid float 1.e5: a digit must follow the decimal point"),
        Case("a = 03.14", 1, 5, "invalid float 03.14: leading zeros are not allowed"),
        Case("a = 1e", 1, 5, "invalid float 1e: the exponent has no digits"),
        Case("a = 1e400", 1, 5, "float 1e400 is out of range"),
        Case("a = 1_.5", 1, 5, "invalid float 1_.5: an underscore must be between digits"),
        Case("a = .5", 1, 5, "invalid value .5 (text must be quoted"),
        Case("a = +", 1, 5, "invalid number +: no digits"),
        // Date-times
        Case("a = 2024-13-01", 1, 5, "invalid date-time 2024-13-01: month 13 is out of range"),
        Case("a = 2023-02-29", 1, 5, "invalid date-time 2023-02-29: day 29 is out of range for month 2"),
        Case("a = 2024-04-31T00:00:00", 1, 5, "day 31 is out of range for month 4"),
        Case("a = 1979-05-27T24:00:00", 1, 5, "hour 24 is out of range"),
        Case("a = 1979-05-27T07:32", 1, 5, "seconds are required (HH:MM:SS)"),
        Case("a = 1979-05-27T07:32:00+7:00", 1, 5, "expected an offset as Z or +HH:MM"),
        Case("a = 1979-5-27", 1, 5, "expected a date as YYYY-MM-DD"),
        Case("a = 07:32:00Z", 1, 5, "a local time has no offset"),
        Case("a = 1979-05-27T07:32:00.", 1, 5, "expected digits after the decimal point in the seconds"),
        // Arrays and inline tables
        Case("a = [1, 2", 1, 5, "unterminated array: missing \"]\""),
        Case("a = [1, 2\nb = 3", 2, 1, #"expected "," or "]" in array, found "b""#),
        Case("a = [,]", 1, 6, #"expected a value in array, found ",""#),
        Case("a = [1,,2]", 1, 8, #"expected a value in array, found a second ",""#),
        Case("a = [1 2]", 1, 8, #"expected "," or "]" in array, found "2""#),
        Case("a = {x = 1,}", 1, 12, "trailing comma in inline table is not allowed"),
        Case("a = {x = 1\n}", 1, 11, "unterminated inline table: missing \"}\" before the end of the line"),
        Case("a = {\nx = 1}", 1, 6, "newline in inline table"),
        Case("a = {x = 1 y = 2}", 1, 12, #"expected "," or "}" in inline table, found "y""#),
        Case("a = {x}", 1, 7, #"expected "=" after key "x", found "}""#),
        Case("a = [" + String(repeating: "[", count: 200), 1, 133, "nesting is deeper than 128 levels"),
        Case("a = " + String(repeating: "{b=", count: 200), 1, 389, "nesting is deeper than 128 levels"),
    ]

    @Test("each invalid document fails with the expected message at the expected line:column",
          arguments: cases)
    func invalid(_ c: Case) {
        do {
            let doc = try parse(c.text)
            Issue.record("parsed, expected \(c.message): \(doc)")
        } catch {
            #expect(error.message.contains(c.message), "\(error)")
            #expect(error.position == pos(c.line, c.column), "\(error)")
            #expect(error.file == "site.toml")
        }
    }

    @Test("the invalid-case list is large enough")
    func enoughCases() {
        #expect(Self.cases.count >= 40)
    }

    @Test("dotted keys cannot reach into an array of tables; headers reach its last element")
    func arraysOfTablesAndDottedKeys() throws {
        do {
            _ = try parse("[[a.b]]\n[a]\nb.x = 1\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "cannot add keys to array of tables [[a.b]] with dotted keys (defined at line 1)")
            #expect(error.position == pos(3, 1))
        }
        for valid in [
            "[[a]]\n[b]\n[a.c]\nx = 1\n",            // [a.c] goes into the last [[a]] element
            "a = 1\n[[t]]\n[t.u]\n[[t]]\n[t.u]\n",   // each [t.u] belongs to a different element
            "[[a]]\n[c]\na.x = 1\n",                  // a.x here is relative to [c]
            "[[t]]\n[[t.u]]\n[t.u.v]\n",
            "[[t]]\nu.v = 1\n[[t]]\nu.v = 2\n",
        ] {
            #expect(throws: Never.self, "\(valid)") { _ = try parse(valid) }
        }
        let doc = try parse("[[a]]\n[b]\n[a.c]\nx = 1\n")
        #expect(doc["a"]?.array?.first?.table?[path: ["c", "x"]]?.integer == 1)
    }
}

@Suite("TOML parser: robustness")
struct TOMLRobustnessTests {
    typealias Rng = SeededRandom

    /// Checks the document either parses or fails with a position that lies inside the text (or just past a line).
    static func check(_ text: String) -> Bool {
        do {
            _ = try parse(text)
            return true
        } catch {
            let lines = Array(text.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
            guard error.position.line >= 1, error.position.line <= lines.count else { return false }
            let line = lines[error.position.line - 1]
            let width = line.filter { $0 & 0xC0 != 0x80 }.count
            return error.position.column >= 1 && error.position.column <= width + 1 && !error.message.isEmpty
        }
    }

    @Test("20,000 mutated copies of a site config never crash; errors point inside the text")
    func mutations() {
        var rng = Rng(seed: 0x1575_7475_5344)
        let base = Array(siteConfig.utf8)
        let interesting: [UInt8] = Array("[]{}=\"'\\.,#\n\r\t _-+:0123456789eExobZTtfalsinu".utf8) + [0x00, 0x7F, 0xC3, 0xA9, 0xFF]
        var parsed = 0, failed = 0, bad: [String] = []
        for _ in 0..<20_000 {
            var bytes = base
            for _ in 0..<(1 + rng.below(4)) {
                let at = rng.below(bytes.count + 1)
                let byte = rng.below(3) == 0 ? UInt8(truncatingIfNeeded: rng.next()) : interesting[rng.below(interesting.count)]
                switch rng.below(4) {
                case 0: if at < bytes.count { bytes[at] = byte }
                case 1: bytes.insert(byte, at: at)
                case 2: if at < bytes.count { bytes.remove(at: at) }
                default:
                    // Duplicate a random slice (repeats keys/headers, deepens nesting).
                    let len = rng.below(40)
                    let from = rng.below(bytes.count)
                    let slice = Array(bytes[from..<min(bytes.count, from + len)])
                    bytes.insert(contentsOf: slice, at: at)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                _ = try parse(text)
                parsed += 1
            } catch {
                failed += 1
                if !Self.check(text), bad.count < 5 { bad.append("\(error) in:\n\(text)") }
            }
        }
        #expect(bad.isEmpty, "\(bad.joined(separator: "\n----\n"))")
        #expect(parsed > 0 && failed > 0, "parsed \(parsed), failed \(failed)")
    }

    @Test("hostile shapes: deep nesting, long dotted keys, huge lines, lone brackets")
    func hostile() {
        let samples: [String] = [
            String(repeating: "[", count: 100_000),
            "a = " + String(repeating: "[", count: 100_000),
            "a = " + String(repeating: "{a=", count: 50_000),
            "[" + Array(repeating: "a", count: 500).joined(separator: ".") + "]",
            Array(repeating: "a", count: 500).joined(separator: ".") + " = 1",
            (0..<200).map { "[" + Array(repeating: "k", count: $0 % 130 + 1).joined(separator: ".") + "]" }.joined(separator: "\n"),
            "a = [" + Array(repeating: "1", count: 50_000).joined(separator: ",") + "]",
            "a = \"" + String(repeating: "\\", count: 10_001),
            String(repeating: "\"", count: 1000),
            String(repeating: "'", count: 1001),
            "\u{0}\u{1}\u{2}", "\r", "\r\n\r", "]", "}", "[[", "[[]]", "a=\"\"\"", "a='''''''", "a=\"\"\"\"\"\"\"",
            "a = 1979-05-27 07:32:00 extra", "a = 9999-12-31T23:59:60.123456789+23:59", "a = 0000-01-01",
            "a = -", "a = +-1", "a = 0x", "a = 1e+", "a = 1e_1", "a = nan.0", "a = -inf_", "\u{FEFF}", "\u{FEFF}\u{FEFF}",
        ]
        for s in samples {
            #expect(Self.check(s), "\(s.prefix(80))")
        }
        // Long dotted keys and deep headers are errors, not stack overflows.
        #expect(throws: TOMLError.self) { _ = try parse(samples[3]) }
        #expect(throws: TOMLError.self) { _ = try parse(samples[4]) }
        #expect((try? parse(samples[6]))?["a"]?.array?.count == 50_000)
    }
}
