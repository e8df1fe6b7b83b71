import Foundation
import Sites

/// `isthmus service install|uninstall`: a systemd unit per segment that runs `isthmus up --foreground` at boot (after
/// the network is online), repairs drift while it runs, and takes the segment down when stopped.
public enum Service {
    public static let defaultDirectory = "/etc/systemd/system"

    public static func unitName(segment: String) -> String { "isthmus-\(segment).service" }

    /// The unit file's text.
    public static func unit(segment: String, site: String, configPath: String, binary: String, netns: String?) -> String {
        let ns = netns.map { " -n \($0)" } ?? ""
        return """
            # Written by `isthmus service install`; `isthmus service uninstall` removes it.
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

    /// Writes and enables the unit; returns what it did, line by line.
    public static func install(segment: String, site: String, configPath: String, binary: String, netns: String?,
                               directory: String = defaultDirectory, enable: Bool = true) throws -> [String] {
        let config = URL(fileURLWithPath: configPath).standardizedFileURL.path
        let name = unitName(segment: segment)
        let path = "\(directory)/\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let text = unit(segment: segment, site: site, configPath: config, binary: binary, netns: netns)
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw SiteError("cannot write \(path): \(error.localizedDescription)")
        }
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
            try? FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
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
        for path in ["\(directory)/multi-user.target.wants/\(name)", "\(directory)/\(name)"] {
            if (try? FileManager.default.attributesOfItem(atPath: path)) != nil {
                try FileManager.default.removeItem(atPath: path)
                out.append("removed \(path)")
            }
        }
        if out.isEmpty { out.append("no unit \(name) in \(directory)") }
        return out
    }

    static var systemdRunning: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }
}
