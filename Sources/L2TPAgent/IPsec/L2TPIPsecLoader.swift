import Foundation
import VICI
import VICIWire
import SiteAgent

/// Puts an LNS's L2TP/IPsec into the running charon over VICI (the PSK or the certificate and key, then the IKEv1
/// and IKEv2 connections of `L2TPIPsecPlan`) and the agent's nftables table (`L2TPIPsecFilter`: one client per
/// CHILD_SA's mark behind a shared NAT, and with `require = true` the drop of cleartext L2TP), the table first so no
/// SA is up without it; `unload` takes out exactly that. A failure half-way unloads what was loaded and
/// throws a sentence naming what went wrong (charon not installed or not running, its socket refused, a proposal
/// charon rejects, a file that cannot be read).
public final class L2TPIPsecLoader {
    let plan: L2TPIPsecPlan
    let filter: L2TPIPsecFilter
    let vici: String
    let require: Bool
    let log: (String) -> Void
    private var loadedConnections: [String] = []
    private var loadedKey = false
    /// The private key's id charon answered load-key with (certificates), for unload-key.
    private var loadedPrivateKey: String?
    private var filterApplied = false

    public init(config c: L2TPIPsecConfig, agent: L2TPAgentConfig, log: @escaping (String) -> Void) throws {
        self.log = log
        vici = c.vici
        var certificate: [UInt8] = [], ca: [UInt8] = [], privateKey: [UInt8] = []
        if case .certificate(let certPath, let keyPath, let caPath) = c.authentication {
            func read(_ path: String, _ what: String) throws -> [UInt8] {
                guard let d = FileManager.default.contents(atPath: path), !d.isEmpty else {
                    throw DataPathError("ipsec: cannot read \(what) \(path)")
                }
                return Array(d)
            }
            certificate = try read(certPath, "the certificate"); privateKey = try read(keyPath, "the private key")
            ca = try read(caPath, "the CA certificate")
        }
        let port = agent.listen.first?.port ?? 1701
        plan = L2TPIPsecPlan(c, agentName: agent.name, localAddresses: agent.listen.map(\.address), port: port,
                             certificateData: certificate, caData: ca)
        filter = L2TPIPsecFilter(agentName: agent.name, listen: agent.listen.map { ($0.address, $0.port) }, require: c.require)
        self.require = c.require

        let client: VICIClient
        do { client = try VICIClient(path: vici, timeout: 10) } catch {
            throw DataPathError("ipsec: \(error)")
        }
        defer { client.close() }
        do {
            try NFTables().run(filter.script)
            filterApplied = true
            if !privateKey.isEmpty {
                let r = try client.call("load-key", ["type": "any", "data": .bytes(privateKey)])
                loadedPrivateKey = r.string("id")
            }
            if let key = plan.sharedKey { try client.call("load-shared", key); loadedKey = true }
            for (name, message) in zip(plan.connectionNames, plan.connections) {
                try client.call("load-conn", message)
                loadedConnections.append(name)
            }
        } catch {
            unload(client)
            throw DataPathError("ipsec: \(error)")
        }
        log("ipsec: loaded \(plan.connectionNames.joined(separator: ", ")) into charon (\(vici))"
            + "; nft table inet \(filter.table)" + (require ? "; L2TP without IPsec is dropped" : ""))
    }

    /// Takes out what `init` put in (connections, key, filter); what fails is logged, the rest still goes.
    public func unload() {
        do {
            let client = try VICIClient(path: vici, timeout: 10)
            defer { client.close() }
            unload(client)
        } catch {
            log("ipsec: cannot reach charon to unload \(loadedConnections.joined(separator: ", ")): \(error)")
            removeFilter()
        }
    }

    private func unload(_ client: VICIClient) {
        for (name, message) in zip(plan.connectionNames, plan.unloadConnections) where loadedConnections.contains(name) {
            do { try client.call("unload-conn", message) } catch { log("ipsec: unload-conn \(name): \(error)") }
        }
        loadedConnections = []
        if loadedKey {
            do { try client.call("unload-shared", plan.unloadSharedKey) } catch { log("ipsec: unload-shared \(plan.sharedKeyID): \(error)") }
            loadedKey = false
        }
        if let id = loadedPrivateKey {
            do { try client.call("unload-key", ["id": .text(id)]) } catch { log("ipsec: unload-key \(id): \(error)") }
            loadedPrivateKey = nil
        }
        removeFilter()
    }

    private func removeFilter() {
        guard filterApplied else { return }
        do { try NFTables().run(filter.deleteScript) } catch { log("ipsec: removing nft table inet \(filter.table): \(error)") }
        filterApplied = false
    }
}
