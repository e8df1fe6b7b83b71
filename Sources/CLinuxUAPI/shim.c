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
#include <stdio.h>

struct isthmus_netns_job { const char *path; int err; };

static void *isthmus_netns_thread(void *arg) {
    struct isthmus_netns_job *job = arg;
    if (unshare(CLONE_NEWNET) != 0) { job->err = errno; return NULL; }
    if (mount("/proc/thread-self/ns/net", job->path, "none", MS_BIND, NULL) != 0) job->err = errno;
    return NULL;
}

int isthmus_netns_create(const char *dir, const char *path) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return -1;
    // Make the directory a shared mount point (bind it onto itself first if it is not a mount point yet), so the
    // namespaces' bind mounts propagate to other mount namespaces, as iproute2 does.
    if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) {
        if (errno != EINVAL) return -1;
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) return -1;
        if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) return -1;
    }
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

int isthmus_netns_delete(const char *path) {
    if (umount2(path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return -1;
    if (unlink(path) != 0) return -1;
    return 0;
}
