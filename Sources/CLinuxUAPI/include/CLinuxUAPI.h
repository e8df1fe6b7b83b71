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
static const unsigned short ISTHMUS_NLA_TYPE_MASK = NLA_TYPE_MASK;
#include <linux/ip6_tunnel.h>
static const unsigned short ISTHMUS_GRE_CSUM = GRE_CSUM;
static const unsigned short ISTHMUS_GRE_KEY = GRE_KEY;
static const unsigned short ISTHMUS_GRE_SEQ = GRE_SEQ;
// address/route/neigh objects: IPv6 router preference (RTA_PREF) and route cache flags (ip route get).
#include <linux/icmpv6.h>
#include <linux/in_route.h>

/// ioctl with a pointer argument (Swift cannot call the variadic ioctl directly).
int isthmus_ioctl_ptr(int fd, unsigned long request, void *arg);
/// ioctl with an integer argument.
int isthmus_ioctl_int(int fd, unsigned long request, unsigned long arg);
/// setns(2) wrapper (glibc declares it only under _GNU_SOURCE).
int isthmus_setns(int fd, int nstype);

#endif
