// linux/in.h alone: with glibc's netinet/in.h first, libc-compat hides the kernel's IPPROTO enum, which is the
// only uapi source of IPPROTO_L2TP.
#include <linux/in.h>
const int isthmus_ipproto_l2tp = IPPROTO_L2TP;
