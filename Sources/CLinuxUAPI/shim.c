#define _GNU_SOURCE
#include <sched.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include "CLinuxUAPI.h"

int isthmus_ioctl_ptr(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int isthmus_ioctl_int(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }
int isthmus_setns(int fd, int nstype) { return setns(fd, nstype); }

#include <string.h>
#include <errno.h>

#define ISTHMUS_BATCH_MAX 64
#define ISTHMUS_CMSG_SPACE CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))

int isthmus_send_batch(int fd, isthmus_dgram *d, unsigned int n) {
    if (n > ISTHMUS_BATCH_MAX) n = ISTHMUS_BATCH_MAX;
    struct mmsghdr m[ISTHMUS_BATCH_MAX];
    struct iovec iov[ISTHMUS_BATCH_MAX];
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctl[ISTHMUS_BATCH_MAX];
    memset(m, 0, sizeof(m[0]) * n);
    for (unsigned int i = 0; i < n; i++) {
        iov[i].iov_base = d[i].base;
        iov[i].iov_len = d[i].length;
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
        if (d[i].addrlen) { m[i].msg_hdr.msg_name = &d[i].addr; m[i].msg_hdr.msg_namelen = d[i].addrlen; }
        if (d[i].segment) {
            m[i].msg_hdr.msg_control = ctl[i].buf;
            m[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            memcpy(CMSG_DATA(c), &d[i].segment, sizeof(uint16_t));
        }
    }
    unsigned int done = 0;
    while (done < n) {
        int r = sendmmsg(fd, m + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return done > 0 ? (int)done : -1;
        }
        done += (unsigned int)r;
    }
    return (int)done;
}

int isthmus_recv_batch(int fd, isthmus_dgram *d, unsigned int n, int wait) {
    if (n > ISTHMUS_BATCH_MAX) n = ISTHMUS_BATCH_MAX;
    struct mmsghdr m[ISTHMUS_BATCH_MAX];
    struct iovec iov[ISTHMUS_BATCH_MAX];
    union { char buf[64]; struct cmsghdr align; } ctl[ISTHMUS_BATCH_MAX];
    memset(m, 0, sizeof(m[0]) * n);
    for (unsigned int i = 0; i < n; i++) {
        iov[i].iov_base = d[i].base;
        iov[i].iov_len = d[i].length;
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
        m[i].msg_hdr.msg_name = &d[i].addr;
        m[i].msg_hdr.msg_namelen = sizeof(d[i].addr);
        m[i].msg_hdr.msg_control = ctl[i].buf;
        m[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
    }
    int r;
    do { r = recvmmsg(fd, m, n, wait ? MSG_WAITFORONE : MSG_DONTWAIT, NULL); } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    for (int i = 0; i < r; i++) {
        d[i].received = m[i].msg_len;
        d[i].addrlen = m[i].msg_hdr.msg_namelen;
        d[i].truncated = (m[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
        d[i].segment = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m[i].msg_hdr); c; c = CMSG_NXTHDR(&m[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int v = 0;
                memcpy(&v, CMSG_DATA(c), sizeof(int));
                d[i].segment = (uint16_t)v;
            }
        }
    }
    return r;
}

int isthmus_set_thread_name(const char *name) { return pthread_setname_np(pthread_self(), name); }

// Named network namespaces, as `ip netns add/delete` make them: /run/netns/NAME is a bind mount of a namespace that a
// short-lived thread created with unshare(CLONE_NEWNET), on a /run/netns that is a shared mount point.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>

struct isthmus_netns_job { const char *path; int err; };

static void *isthmus_netns_thread(void *arg) {
    struct isthmus_netns_job *job = arg;
    if (unshare(CLONE_NEWNET) != 0) { job->err = errno; return NULL; }
    if (mount("/proc/thread-self/ns/net", job->path, "none", MS_BIND, NULL) != 0) job->err = errno;
    return NULL;
}

/// /run/netns as ip makes it: a directory that is a shared mount point, so the namespaces' bind mounts propagate to
/// other mount namespaces.
static int isthmus_netns_directory(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
    // Make the directory a shared mount point (bind it onto itself first if it is not a mount point yet), so the
    // namespaces' bind mounts propagate to other mount namespaces, as iproute2 does.
    if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) {
        if (errno != EINVAL) return -1;
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) return -1;
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) return -1;
    }
    return 0;
}

int isthmus_netns_create(const char *dir, const char *path) {
    if (isthmus_netns_directory(dir) != 0) return -1;
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL, 0);
    if (fd < 0) return -1;
    close(fd);
    struct isthmus_netns_job job = { path, 0 };
    pthread_t t;
    int e = pthread_create(&t, NULL, isthmus_netns_thread, &job);
    if (e == 0) e = pthread_join(t, NULL);
    if (e == 0) e = job.err;
    if (e != 0) { unlink(path); errno = e; return -1; }
    return 0;
}

int isthmus_netns_attach(const char *dir, const char *path, const char *source) {
    if (isthmus_netns_directory(dir) != 0) return -1;
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL, 0);
    if (fd < 0) return -1;
    close(fd);
    if (mount(source, path, "none", MS_BIND, NULL) != 0) { int e = errno; unlink(path); errno = e; return -1; }
    return 0;
}

int isthmus_netns_exec(const char *path, const char *name, char *const argv[]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = setns(fd, CLONE_NEWNET);
    close(fd);
    if (r != 0) return -1;
    // A mount namespace of our own whose mounts do not propagate back, with the namespace's own /sys.
    if (unshare(CLONE_NEWNS) != 0) return -1;
    if (mount("", "/", "none", MS_SLAVE | MS_REC, NULL) != 0) return -1;
    unsigned long flags = 0;
    struct statvfs fs;
    if (statvfs("/sys", &fs) == 0 && (fs.f_flag & ST_RDONLY)) flags = MS_RDONLY;
    if (umount2("/sys", MNT_DETACH) == 0 || errno == EINVAL) {
        if (mount(name, "/sys", "sysfs", flags, NULL) != 0) return -1;
    }
    // /etc/netns/NAME/FILE bound over /etc/FILE (resolv.conf, hosts ... of that namespace).
    char etc[4096];
    if (snprintf(etc, sizeof etc, "/etc/netns/%s", name) < (int)sizeof etc) {
        DIR *d = opendir(etc);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char from[4096 + 256], to[4096 + 256];
                snprintf(from, sizeof from, "%s/%s", etc, e->d_name);
                snprintf(to, sizeof to, "/etc/%s", e->d_name);
                if (mount(from, to, "none", MS_BIND, NULL) != 0) {
                    fprintf(stderr, "Bind %s -> %s failed: %s\n", from, to, strerror(errno));
                }
            }
            closedir(d);
        }
    }
    execvp(argv[0], argv);
    return -1;
}

int isthmus_netns_delete(const char *path) {
    if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return -1;
    if (unlink(path) != 0) return -1;
    return 0;
}

// MARK: PPP over L2TP

#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <signal.h>

int isthmus_pppol2tp_connect(int sock, int version, int tunnel_fd, const struct sockaddr *peer, socklen_t peer_len,
                             uint32_t s_tunnel, uint32_t s_session, uint32_t d_tunnel, uint32_t d_session) {
    int v6 = peer->sa_family == AF_INET6;
    if ((v6 && peer_len < sizeof(struct sockaddr_in6)) || (!v6 && peer_len < sizeof(struct sockaddr_in))) {
        errno = EINVAL;
        return -1;
    }
    if (version == 2 && !v6) {
        struct sockaddr_pppol2tp a; memset(&a, 0, sizeof a);
        a.sa_family = AF_PPPOX; a.sa_protocol = PX_PROTO_OL2TP;
        a.pppol2tp.fd = tunnel_fd; memcpy(&a.pppol2tp.addr, peer, sizeof(struct sockaddr_in));
        a.pppol2tp.s_tunnel = s_tunnel; a.pppol2tp.s_session = s_session;
        a.pppol2tp.d_tunnel = d_tunnel; a.pppol2tp.d_session = d_session;
        return connect(sock, (struct sockaddr *)&a, sizeof a);
    } else if (version == 2) {
        struct sockaddr_pppol2tpin6 a; memset(&a, 0, sizeof a);
        a.sa_family = AF_PPPOX; a.sa_protocol = PX_PROTO_OL2TP;
        a.pppol2tp.fd = tunnel_fd; memcpy(&a.pppol2tp.addr, peer, sizeof(struct sockaddr_in6));
        a.pppol2tp.s_tunnel = s_tunnel; a.pppol2tp.s_session = s_session;
        a.pppol2tp.d_tunnel = d_tunnel; a.pppol2tp.d_session = d_session;
        return connect(sock, (struct sockaddr *)&a, sizeof a);
    } else if (!v6) {
        struct sockaddr_pppol2tpv3 a; memset(&a, 0, sizeof a);
        a.sa_family = AF_PPPOX; a.sa_protocol = PX_PROTO_OL2TP;
        a.pppol2tp.fd = tunnel_fd; memcpy(&a.pppol2tp.addr, peer, sizeof(struct sockaddr_in));
        a.pppol2tp.s_tunnel = s_tunnel; a.pppol2tp.s_session = s_session;
        a.pppol2tp.d_tunnel = d_tunnel; a.pppol2tp.d_session = d_session;
        return connect(sock, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_pppol2tpv3in6 a; memset(&a, 0, sizeof a);
        a.sa_family = AF_PPPOX; a.sa_protocol = PX_PROTO_OL2TP;
        a.pppol2tp.fd = tunnel_fd; memcpy(&a.pppol2tp.addr, peer, sizeof(struct sockaddr_in6));
        a.pppol2tp.s_tunnel = s_tunnel; a.pppol2tp.s_session = s_session;
        a.pppol2tp.d_tunnel = d_tunnel; a.pppol2tp.d_session = d_session;
        return connect(sock, (struct sockaddr *)&a, sizeof a);
    }
}

int isthmus_pppol2tp_get_stats(int sock, isthmus_pppol2tp_stats *out) {
    struct pppol2tp_ioc_stats s; memset(&s, 0, sizeof s);
    if (ioctl(sock, PPPIOCGL2TPSTATS, &s) < 0) return -1;
    out->tx_packets = s.tx_packets; out->tx_bytes = s.tx_bytes; out->tx_errors = s.tx_errors;
    out->rx_packets = s.rx_packets; out->rx_bytes = s.rx_bytes; out->rx_seq_discards = s.rx_seq_discards;
    out->rx_oos_packets = s.rx_oos_packets; out->rx_errors = s.rx_errors;
    out->tunnel_id = s.tunnel_id; out->session_id = s.session_id;
    return 0;
}

static void isthmus_child_fail(int log_fd, const char *step) {
    int e = errno;
    const char *m = strerror(e);
    if (log_fd < 0) log_fd = 2;
    (void)!write(log_fd, "isthmus: ", 9);
    (void)!write(log_fd, step, strlen(step));
    (void)!write(log_fd, ": ", 2);
    (void)!write(log_fd, m, strlen(m));
    (void)!write(log_fd, "\n", 1);
    _exit(127);
}

/// Moves `fd` to `target` in the child (dup2 clears close-on-exec; a fd already there only loses the flag).
static int isthmus_child_place(int fd, int target) {
    if (fd == target) {
        int fl = fcntl(fd, F_GETFD);
        return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    return dup2(fd, target) < 0 ? -1 : 0;
}

struct isthmus_spawn_args {
    const char *path;
    char *const *argv;
    int channel_fd, stdio_fd, log_fd;
    const char *secrets, *options_file;
    pid_t parent;
    sigset_t mask;   // the caller's signal mask, restored in the child before exec
};

/// The child's side of isthmus_spawn_channel. It runs on its own stack in the caller's memory (CLONE_VM) while the
/// caller waits (CLONE_VFORK), so it only makes system calls and writes nothing but its own stack.
static int isthmus_spawn_child(void *p) {
    struct isthmus_spawn_args *a = p;
    const char *path = a->path, *secrets = a->secrets, *options_file = a->options_file;
    int channel_fd = a->channel_fd, stdio_fd = a->stdio_fd, log_fd = a->log_fd;
    pid_t parent = a->parent;
    // The handlers are the caller's code on the caller's memory: back to the default before any signal can arrive
    // (they were all blocked by the caller), ignored ones stay ignored as across fork and exec.
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    sigprocmask(SIG_SETMASK, &a->mask, NULL);
    // Move the fds above the targets first so the dup2s below cannot overwrite one another.
    int hi = 100;
    if (channel_fd >= 0 && (channel_fd = fcntl(channel_fd, F_DUPFD, hi)) < 0) isthmus_child_fail(log_fd, "dup channel fd");
    if (stdio_fd >= 0 && (stdio_fd = fcntl(stdio_fd, F_DUPFD, hi)) < 0) isthmus_child_fail(log_fd, "dup stdio fd");
    if (log_fd >= 0 && (log_fd = fcntl(log_fd, F_DUPFD, hi)) < 0) isthmus_child_fail(-1, "dup log fd");
    int null_fd = open("/dev/null", O_RDWR);
    if (stdio_fd < 0) stdio_fd = null_fd;
    if (isthmus_child_place(stdio_fd, 0) < 0 || isthmus_child_place(stdio_fd, 1) < 0) isthmus_child_fail(log_fd, "stdin/stdout");
    if (isthmus_child_place(log_fd >= 0 ? log_fd : null_fd, 2) < 0) isthmus_child_fail(log_fd, "stderr");
    log_fd = 2;
    if (channel_fd >= 0 && isthmus_child_place(channel_fd, 3) < 0) isthmus_child_fail(log_fd, "channel fd");
    if (syscall(SYS_close_range, channel_fd >= 0 ? 4 : 3, ~0U, 0) < 0) {
        for (int fd = channel_fd >= 0 ? 4 : 3; fd < 1024; fd++) close(fd);
    }
    if (setsid() < 0) isthmus_child_fail(log_fd, "setsid");
    // An agent killed without cleaning up takes its pppds with it (they would hold the kernel sessions).
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) isthmus_child_fail(log_fd, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() != parent) _exit(1);
    if (secrets) {
        if (unshare(CLONE_NEWNS) < 0) isthmus_child_fail(log_fd, "unshare(CLONE_NEWNS)");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) isthmus_child_fail(log_fd, "make / private");
        if (mount(secrets, "/etc/ppp/chap-secrets", NULL, MS_BIND, NULL) < 0) isthmus_child_fail(log_fd, "bind the secrets over /etc/ppp/chap-secrets");
        if (mount(secrets, "/etc/ppp/pap-secrets", NULL, MS_BIND, NULL) < 0) isthmus_child_fail(log_fd, "bind the secrets over /etc/ppp/pap-secrets");
    }
    if (options_file) {
        if (!secrets) {
            if (unshare(CLONE_NEWNS) < 0) isthmus_child_fail(log_fd, "unshare(CLONE_NEWNS)");
            if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) isthmus_child_fail(log_fd, "make / private");
        }
        if (mount(options_file, "/etc/ppp/options", NULL, MS_BIND, NULL) < 0) isthmus_child_fail(log_fd, "bind over /etc/ppp/options");
    }
    execv(path, a->argv);
    isthmus_child_fail(log_fd, path);
    return 127;
}

/// Starts the child as posix_spawn does — clone(CLONE_VM | CLONE_VFORK) on a stack of its own — not with fork():
/// fork copies the caller's page tables (the agent's loop stalls for that long, seconds in a TCG guest with a large
/// agent), and the child shares nothing it could corrupt: every signal is blocked across the clone and the child
/// resets the caller's handlers before unblocking.
pid_t isthmus_spawn_channel(const char *path, char *const argv[], int channel_fd, int stdio_fd, int log_fd,
                            const char *secrets, const char *options_file) {
    struct isthmus_spawn_args a = {
        .path = path, .argv = argv, .channel_fd = channel_fd, .stdio_fd = stdio_fd, .log_fd = log_fd,
        .secrets = secrets, .options_file = options_file, .parent = getpid(),
    };
    const size_t stack_size = 256 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -1;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &a.mask);
    pid_t pid = clone(isthmus_spawn_child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &a.mask, NULL);
    munmap(stack, stack_size);
    if (pid < 0) errno = e;
    return pid;
}

#include <stdlib.h>

#include <termios.h>

int isthmus_open_pty(char *name, size_t len, int *slave) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, name, len) != 0) { int e = errno; close(fd); errno = e; return -1; }
    // Raw at once: a new pty echoes, and frames from the peer written before pppd has set up the slave would come
    // back out of the master as if pppd had sent them (pppd then sees its own magic number: "looped back").
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios t;
    if (s < 0 || tcgetattr(s, &t) < 0) { int e = errno; if (s >= 0) close(s); close(fd); errno = e; return -1; }
    cfmakeraw(&t);
    if (tcsetattr(s, TCSANOW, &t) < 0) { int e = errno; close(s); close(fd); errno = e; return -1; }
    *slave = s;
    return fd;
}
