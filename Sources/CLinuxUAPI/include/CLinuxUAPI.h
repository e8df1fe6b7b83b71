// Kernel uapi constants for Isthmus, straight from linux-libc-dev's headers.
// glibc's socket/in headers come first so linux/libc-compat.h suppresses the duplicates.
#ifndef ISTHMUS_CLINUXUAPI_H
#define ISTHMUS_CLINUXUAPI_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/sched.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/net_namespace.h>
#include <linux/fib_rules.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_bridge.h>
#include <linux/if_tunnel.h>
#include <linux/if_tun.h>
#include <linux/neighbour.h>
#include <linux/l2tp.h>
#include <linux/fou.h>
#include <linux/veth.h>
#include <linux/virtio_net.h>
#include <linux/ip.h>
#include <linux/if_vlan.h>
#include <linux/if_macsec.h>
// Userspace data plane: a classic BPF filter on a raw socket (struct sock_filter, sock_fprog; SO_ATTACH_FILTER).
#include <linux/filter.h>
static const int ISTHMUS_SKF_NET_OFF = SKF_NET_OFF;
// IPsec (xfrm) over NETLINK_XFRM: message types, XFRMA_* attributes, flags (`isthmus xfrm`).
#include <linux/xfrm.h>

// Values the Swift importer cannot take as macros (function-like or casted) are re-exported here.
static const unsigned int ISTHMUS_NLMSG_HDRLEN = NLMSG_HDRLEN;
static const unsigned int ISTHMUS_NLA_HDRLEN = NLA_HDRLEN;
static const unsigned int ISTHMUS_GENL_HDRLEN = GENL_HDRLEN;
static const unsigned long ISTHMUS_TUNSETIFF = TUNSETIFF;
static const unsigned long ISTHMUS_TUNSETPERSIST = TUNSETPERSIST;
static const unsigned long ISTHMUS_TUNSETOWNER = TUNSETOWNER;
static const unsigned long ISTHMUS_TUNSETGROUP = TUNSETGROUP;
static const unsigned long ISTHMUS_TUNSETOFFLOAD = TUNSETOFFLOAD;
static const unsigned long ISTHMUS_TUNSETVNETHDRSZ = TUNSETVNETHDRSZ;
static const unsigned long ISTHMUS_TUNGETIFF = TUNGETIFF;
static const int ISTHMUS_CLONE_NEWNET = CLONE_NEWNET;
static const unsigned short ISTHMUS_NLA_TYPE_MASK = (unsigned short)(NLA_TYPE_MASK);
#include <linux/ip6_tunnel.h>
static const unsigned short ISTHMUS_GRE_CSUM = GRE_CSUM;
static const unsigned short ISTHMUS_GRE_KEY = GRE_KEY;
static const unsigned short ISTHMUS_GRE_SEQ = GRE_SEQ;
static const unsigned short ISTHMUS_GRE_ROUTING = GRE_ROUTING;
static const unsigned short ISTHMUS_GRE_VERSION = GRE_VERSION;
// address/route/neigh objects: IPv6 router preference (RTA_PREF) and route cache flags (ip route get).
#include <linux/icmpv6.h>
#include <linux/in_route.h>

// Userspace data plane (Dataplane, DataplaneWire): UDP GSO/GRO socket options, Ethernet protocol numbers,
// IP_MTU, and the IP protocol number of L2TPv3 (glibc's netinet/in.h hides linux/in.h's enum, so it comes
// from uapi_in.c, which includes the kernel header alone).
#include <netinet/udp.h>
#include <linux/if_ether.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <poll.h>
/// pthread_setname_np for the calling thread (glibc declares it only under _GNU_SOURCE).
int isthmus_set_thread_name(const char *name);
extern const int isthmus_ipproto_l2tp;
static const unsigned long ISTHMUS_SIOCGIFMTU = 0x8921;

/// Per-packet counters: one writer thread per counter, any number of readers (relaxed, no lock prefix).
static inline void isthmus_counter_add(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}
static inline void isthmus_counter_atomic_add(uint64_t *p, uint64_t v) { __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline void isthmus_counter_store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t isthmus_counter_load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/// One datagram of a sendmmsg/recvmmsg batch, without the CMSG macros Swift cannot use.
typedef struct {
    void *base;                     ///< payload buffer
    uint32_t length;                ///< send: payload length; receive: buffer capacity
    uint32_t received;              ///< receive: bytes received
    struct sockaddr_storage addr;   ///< send: destination (if addrlen > 0); receive: source
    uint32_t addrlen;
    uint16_t segment;               ///< send: UDP_SEGMENT size (0: none); receive: UDP_GRO segment size (0: one datagram)
    uint16_t truncated;             ///< receive: MSG_TRUNC was set
} isthmus_dgram;

/// sendmmsg over up to 64 datagrams; returns how many were sent, or -1 with errno.
int isthmus_send_batch(int fd, isthmus_dgram *d, unsigned int n);
/// recvmmsg into up to 64 datagrams; `wait` 0 = MSG_DONTWAIT. Returns how many arrived, or -1 with errno.
int isthmus_recv_batch(int fd, isthmus_dgram *d, unsigned int n, int wait);

/// ioctl with a pointer argument (Swift cannot call the variadic ioctl directly).
int isthmus_ioctl_ptr(int fd, unsigned long request, void *arg);
/// ioctl with an integer argument.
int isthmus_ioctl_int(int fd, unsigned long request, unsigned long arg);
/// setns(2) wrapper (glibc declares it only under _GNU_SOURCE).
int isthmus_setns(int fd, int nstype);

/// Creates the named network namespace `path` (e.g. /run/netns/NAME) under `dir` (/run/netns), like
/// `ip netns add`; 0, or -1 with errno (EEXIST: the name is taken).
int isthmus_netns_create(const char *dir, const char *path);
/// Removes a named network namespace (the namespace itself lives on while a process is in it); 0 or -1 with errno.
int isthmus_netns_delete(const char *path);
/// `ip netns attach`: /run/netns/NAME (in `dir`, made a shared mount point) bound to `source` (/proc/PID/ns/net).
int isthmus_netns_attach(const char *dir, const char *path, const char *source);
/// `ip netns exec`: enters the namespace at `path`, a private mount namespace with its /sys and /etc/netns/NAME bound
/// over /etc, then execvp(argv). Returns (-1, errno) only on failure.
int isthmus_netns_exec(const char *path, const char *name, char *const argv[]);

// nftables (SiteAgent): libnftables.so.1 is opened with dlopen at run time (nftables.c), so building needs no
// libnftables-dev. A context opens its netlink socket when it is created, in the calling thread's network namespace.
/// A libnftables context (struct nft_ctx) with buffered output and error text.
typedef struct isthmus_nft isthmus_nft;
/// Loads libnftables.so.1 and resolves its functions, once per process; 0 on success, -1 (see the error text) if not.
int isthmus_nft_load(void);
/// Why loading failed (dlerror's text, or the missing symbol); empty after success.
const char *isthmus_nft_load_error(void);
/// A new context with output and error buffered; NULL if the library is not loaded or the context cannot be made.
isthmus_nft *isthmus_nft_new(void);
/// Frees a context (NULL is ignored).
void isthmus_nft_free(isthmus_nft *ctx);
/// libnftables output flags (NFT_CTX_OUTPUT_STATELESS, NFT_CTX_OUTPUT_JSON): no counter values; JSON.
static const unsigned int ISTHMUS_NFT_OUTPUT_STATELESS = 1u << 2;
static const unsigned int ISTHMUS_NFT_OUTPUT_JSON = 1u << 4;
/// Runs an nft script as one transaction with these output flags; 0 on success. Read both buffers after each run.
int isthmus_nft_run(isthmus_nft *ctx, const char *script, unsigned int output_flags);
/// The output of the last run; reading it empties the buffer.
const char *isthmus_nft_output(isthmus_nft *ctx);
/// nft's error text for the last run; reading it empties the buffer.
const char *isthmus_nft_error(isthmus_nft *ctx);

#endif

// PPP over L2TP (L2TPAgent's PPP calls): the PPPoL2TP session socket API (Documentation/networking/l2tp.rst),
// PPPIOCGL2TPSTATS, and pppd's launch. The sockaddr_pppol2tp* structs are packed, which Swift cannot build
// field by field, so the connect goes through a C helper that picks the variant.
#include <linux/if_pppox.h>
#include <linux/if_pppol2tp.h>
#include <linux/ppp-ioctl.h>
static const int ISTHMUS_AF_PPPOX = AF_PPPOX;
static const int ISTHMUS_PX_PROTO_OL2TP = PX_PROTO_OL2TP;
static const unsigned long ISTHMUS_PPPIOCGCHAN = PPPIOCGCHAN;

/// Connects a PPPoL2TP socket (socket(AF_PPPOX, SOCK_DGRAM, PX_PROTO_OL2TP)) to tunnel `s_tunnel` and session
/// `s_session` (our ids; the peer's are d_*), carried by the UDP socket `tunnel_fd` whose peer is `peer`
/// (a sockaddr_in or sockaddr_in6). `version` 2 uses sockaddr_pppol2tp / sockaddr_pppol2tpin6 (16-bit ids),
/// 3 the v3 variants (32-bit ids). Session 0 with peer session 0 makes it a tunnel management socket (the
/// L2TPv2 API that needs no netlink). Returns connect()'s result (errno set).
int isthmus_pppol2tp_connect(int sock, int version, int tunnel_fd, const struct sockaddr *peer, socklen_t peer_len,
                             uint32_t s_tunnel, uint32_t s_session, uint32_t d_tunnel, uint32_t d_session);

/// PPPIOCGL2TPSTATS on a PPPoL2TP socket: the session's counters (or the tunnel's, on a management socket).
typedef struct {
    uint64_t tx_packets, tx_bytes, tx_errors, rx_packets, rx_bytes, rx_seq_discards, rx_oos_packets, rx_errors;
    uint16_t tunnel_id, session_id;
} isthmus_pppol2tp_stats;
int isthmus_pppol2tp_get_stats(int sock, isthmus_pppol2tp_stats *out);

/// Starts pppd (or any program) for one PPP channel: a vfork-style child (clone with CLONE_VM | CLONE_VFORK on its
/// own stack, as posix_spawn starts one: the caller's page tables are not copied) that makes only system calls:
/// setsid, SIGTERM when the parent dies (PR_SET_PDEATHSIG); `channel_fd` becomes fd 3 (the `pppol2tp 3` argument, or -1 for none), `stdio_fd` becomes 0 and 1
/// (-1: /dev/null), `log_fd` becomes 2; every other fd is closed. When `secrets` is set, the child gets a private
/// mount namespace in which that file is bind-mounted over /etc/ppp/chap-secrets and /etc/ppp/pap-secrets, and
/// `options_file` (if set) over /etc/ppp/options, so pppd sees exactly what the caller chose. A failing step
/// writes "isthmus: <step>: <error>" to log_fd and exits 127. Returns the child's pid, or -1 (errno).
pid_t isthmus_spawn_channel(const char *path, char *const argv[], int channel_fd, int stdio_fd, int log_fd,
                            const char *secrets, const char *options_file);

/// A pty master (non-blocking, close-on-exec) for the userspace PPP data plane; its slave's path in `name`.
/// glibc declares posix_openpt/ptsname_r only for _GNU_SOURCE. Returns the master fd or -1 (errno).
/// The slave is opened too and put in raw mode (no echo); `*slave` is its fd, which the caller keeps open until
/// pppd has it (so the raw settings stay) and then closes.
int isthmus_open_pty(char *name, size_t len, int *slave);
