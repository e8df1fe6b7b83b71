#if canImport(Glibc)
import Glibc
#endif
import Netlink

/// SIGINT and SIGTERM as a readable file descriptor for a poll loop (the self-pipe trick), for the foreground
/// processes (`tunnel run`, `up --foreground`, `l2tp run`): while it is open the two signals run a handler that
/// writes a byte to the pipe, and they are unblocked in this thread (a parent may have started us with them
/// blocked, which exec inherits; test runners do). `close()` puts the previous handlers back. One at a time.
public final class StopSignals {
    nonisolated(unsafe) static var writeFD: Int32 = -1

    /// Readable once a signal came.
    public let fd: Int32
    let writeEnd: Int32
    let previous: (interrupt: __sighandler_t?, terminate: __sighandler_t?)
    var closed = false

    public init() throws {
        var p: [Int32] = [-1, -1]
        guard pipe(&p) == 0 else { throw SystemError("pipe") }
        _ = fcntl(p[1], F_SETFL, O_NONBLOCK)
        fd = p[0]; writeEnd = p[1]
        Self.writeFD = p[1]
        let handler: @convention(c) (Int32) -> Void = { _ in
            var b: UInt8 = 1
            _ = write(StopSignals.writeFD, &b, 1)
        }
        previous = (signal(SIGINT, handler), signal(SIGTERM, handler))
        var set = sigset_t()
        sigemptyset(&set); sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Reads what the handler wrote (so that `fd` is quiet again).
    public func drain() {
        var b = [UInt8](repeating: 0, count: 16)
        _ = read(fd, &b, b.count)
    }

    /// Restores the previous handlers and closes the pipe.
    public func close() {
        guard !closed else { return }
        closed = true
        signal(SIGINT, previous.interrupt)
        signal(SIGTERM, previous.terminate)
        Self.writeFD = -1
        Glibc.close(fd); Glibc.close(writeEnd)
    }

    deinit { close() }
}
