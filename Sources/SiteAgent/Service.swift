import Foundation
import Netlink
import Sites

/// `isthmus service install|uninstall`: a systemd unit per segment that runs `isthmus up --foreground` at boot (after
/// the network is online), repairs drift while it runs, and takes the segment down when stopped.
public enum Service {
    public static let defaultDirectory = "/etc/systemd/system"

    public static func unitName(segment: String) -> String { "isthmus-\(segment).service" }

    /// The first line of every unit Isthmus writes: a unit file without it is not Isthmus's to replace or remove.
    static let marker = "# Written by `isthmus service install`; `isthmus service uninstall` removes it."

    /// Whether `path` is a unit file Isthmus wrote (a regular file, not a link, starting with `marker`).
    static func isOurs(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.hasPrefix(marker + "\n")
    }

    /// What is at `path` when it is not Isthmus's unit, in words for an error; nil when nothing is there or it is ours.
    static func foreign(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, !isOurs(path) else { return nil }
        if st.st_mode & S_IFMT == S_IFLNK, let to = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
            return to == "/dev/null" ? "a link to /dev/null: the unit is masked (systemctl unmask it first)" : "a link to \(to)"
        }
        return st.st_mode & S_IFMT == S_IFREG ? "a unit file not written by isthmus service install" : "not a regular file"
    }

    /// The unit file's text.
    public static func unit(segment: String, site: String, configPath: String, binary: String, netns: String?) -> String {
        let ns = netns.map { " -n \($0)" } ?? ""
        return """
            \(marker)
            [Unit]
            Description=Isthmus segment \(segment) (site \(site))
            Wants=network-online.target
            After=network-online.target nftables.service
            ConditionPathExists=\(configPath)

            [Service]
            Type=simple
            ExecStart=\(binary)\(ns) up --foreground --config \(configPath) --site \(site)
            # SIGTERM makes the agent take the segment down (interfaces, userspace tunnels, nftables table).
            KillMode=mixed
            TimeoutStopSec=30
            Restart=on-failure
            RestartSec=5

            [Install]
            WantedBy=multi-user.target

            """
    }

    /// The namespace a unit must enter when `install` was not given `-n`: the name under /run/netns (`ip netns`'s
    /// bind mounts) of the namespace this process runs in — `ip netns exec NS isthmus service install ...` — so that
    /// the agent started at boot runs in NS, not on the host. None when no name matches and this is the host's (pid
    /// 1's) namespace, or when pid 1's namespace cannot be read (a sandbox) to tell. A namespace other than pid 1's
    /// without a name cannot be entered by the unit: an error saying so.
    public static func enclosingNamespace(runDirectory: String = "/run/netns") throws -> String? {
        var here = stat()
        guard stat("/proc/thread-self/ns/net", &here) == 0 else { return nil }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? []).sorted()
        for n in names {
            var st = stat()
            if stat("\(runDirectory)/\(n)", &st) == 0 && st.st_ino == here.st_ino && st.st_dev == here.st_dev { return n }
        }
        var host = stat()
        guard stat("/proc/1/ns/net", &host) == 0, host.st_ino != here.st_ino || host.st_dev != here.st_dev else { return nil }
        throw SiteError("service install: this process runs in a network namespace that has no name under \(runDirectory), "
                        + "so a unit could not enter it at boot; name it (ip netns attach NAME PID) and use -n NAME or ip netns exec NAME")
    }

    /// Writes and enables the unit; returns what it did, line by line.
    public static func install(segment: String, site: String, configPath: String, binary: String, netns: String?,
                               directory: String = defaultDirectory, enable: Bool = true) throws -> [String] {
        let config = URL(fileURLWithPath: configPath).standardizedFileURL.path
        let name = unitName(segment: segment)
        let path = "\(directory)/\(name)"
        if let what = foreign(path) { throw SiteError("\(path) exists and is \(what); nothing was written") }
        let text = unit(segment: segment, site: site, configPath: config, binary: binary, netns: netns)
        // The unit directory is systemd's, not Isthmus's: the file is written in place (created if missing), never
        // through a temporary file renamed over whatever is there.
        do {
            try OwnedFiles.makeDirectory(directory)
            try OwnedFiles.overwrite(path, with: Array(text.utf8), create: true)
        } catch { throw SiteError("cannot write the unit: \(error)") }
        var out = ["wrote \(path)"]
        if binary.contains("/.build/") {
            out.append("warning: the unit runs \(binary), a build directory; install isthmus (e.g. to /usr/local/bin) and reinstall the unit")
        }
        guard enable else { return out }
        if systemdRunning && directory == defaultDirectory {
            for args in [["daemon-reload"], ["enable", name]] {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/bin/systemctl")
                p.arguments = args
                try p.run()
                p.waitUntilExit()
                if p.terminationStatus != 0 { throw SiteError("systemctl \(args.joined(separator: " ")) failed (exit \(p.terminationStatus))") }
                out.append("systemctl \(args.joined(separator: " "))")
            }
            out.append("start it now with: systemctl start \(name)")
        } else {
            // What `systemctl enable` does, for a system whose systemd is not running (an image, a chroot, a container).
            let wants = "\(directory)/multi-user.target.wants"
            try FileManager.default.createDirectory(atPath: wants, withIntermediateDirectories: true)
            let link = "\(wants)/\(name)"
            if let to = try? FileManager.default.destinationOfSymbolicLink(atPath: link) {
                guard to == path else { throw SiteError("\(link) exists and links to \(to), not \(path); it was left alone") }
            } else {
                do { try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path) } catch {
                    throw SiteError("cannot enable the unit: \(link): \(error.localizedDescription)")
                }
            }
            out.append("enabled: \(link) -> \(path) (systemd is not running here; the unit starts at the next boot)")
        }
        return out
    }

    /// Disables and removes the unit.
    public static func uninstall(segment: String, directory: String = defaultDirectory) throws -> [String] {
        let name = unitName(segment: segment)
        var out: [String] = []
        if systemdRunning && directory == defaultDirectory {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/systemctl")
            p.arguments = ["disable", "--now", name]
            try p.run()
            p.waitUntilExit()
            out.append("systemctl disable --now \(name)")
        }
        // Only what install made: the link to this unit, and the unit if it is Isthmus's (a mask or a user's own
        // unit of the same name stays).
        let unitPath = "\(directory)/\(name)", link = "\(directory)/multi-user.target.wants/\(name)"
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == unitPath {
            try FileManager.default.removeItem(atPath: link)
            out.append("removed \(link)")
        }
        if isOurs(unitPath) {
            try FileManager.default.removeItem(atPath: unitPath)
            out.append("removed \(unitPath)")
        } else if let what = foreign(unitPath) {
            out.append("left \(unitPath) alone: it is \(what)")
        }
        if out.isEmpty { out.append("no unit \(name) in \(directory)") }
        return out
    }

    static var systemdRunning: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }
}
