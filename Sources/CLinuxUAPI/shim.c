#define _GNU_SOURCE
#include <sched.h>
#include <sys/ioctl.h>
#include "CLinuxUAPI.h"

int isthmus_ioctl_ptr(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
int isthmus_ioctl_int(int fd, unsigned long request, unsigned long arg) { return ioctl(fd, request, arg); }
int isthmus_setns(int fd, int nstype) { return setns(fd, nstype); }
