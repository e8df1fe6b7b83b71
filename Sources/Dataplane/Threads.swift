#if canImport(Glibc)
import Glibc
#endif
import CLinuxUAPI

/// A plain POSIX thread running one closure (the data plane's workers block in syscalls; they do not belong on
/// the Swift concurrency pool).
public final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }

    public init(name: String, _ body: @escaping () -> Void) throws {
        let box = Unmanaged.passRetained(Box({ _ = isthmus_set_thread_name(String(name.prefix(15))); body() })).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw WorkerError("pthread_create for \(name) failed (errno \(rc))")
        }
    }

    public func join() { _ = pthread_join(thread, nil) }
}

struct WorkerError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
