import Netlink
import NetlinkWire

/// Placeholder until implemented.
public enum AddressCommand {
    public static func run(_ args: inout Arguments, _ session: Session) throws {
        throw UsageError("not implemented yet")
    }
}
