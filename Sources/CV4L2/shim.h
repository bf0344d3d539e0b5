#ifndef PORCHLIGHT_CV4L2_SHIM_H
#define PORCHLIGHT_CV4L2_SHIM_H
// libv4l2 plus the kernel's V4L2 UAPI. Swift cannot import the ioctl request macros (they expand
// to _IOWR(...), which encodes the struct size), the fourcc macros, or the variadic v4l2_ioctl,
// so each gets a one-line inline shim here. Struct sizes and offsets stay the C compiler's.
#include <errno.h>
#include <libv4l2.h>
#include <linux/videodev2.h>
#include <sys/ioctl.h>
// The capture thread's wake-up descriptor; Swift's Glibc module leaves this header out.
#include <sys/eventfd.h>
#include <sys/mman.h>

static inline int porchlight_v4l2_open(const char *path, int flags) {
    return v4l2_open(path, flags);
}

static inline int porchlight_v4l2_ioctl(int fd, unsigned long request, void *arg) {
    return v4l2_ioctl(fd, request, arg);
}

static inline unsigned long porchlight_VIDIOC_QUERYCAP(void) { return VIDIOC_QUERYCAP; }
static inline unsigned long porchlight_VIDIOC_ENUM_FMT(void) { return VIDIOC_ENUM_FMT; }
static inline unsigned long porchlight_VIDIOC_ENUM_FRAMESIZES(void) { return VIDIOC_ENUM_FRAMESIZES; }
static inline unsigned long porchlight_VIDIOC_G_FMT(void) { return VIDIOC_G_FMT; }
static inline unsigned long porchlight_VIDIOC_S_FMT(void) { return VIDIOC_S_FMT; }
static inline unsigned long porchlight_VIDIOC_G_PARM(void) { return VIDIOC_G_PARM; }
static inline unsigned long porchlight_VIDIOC_S_PARM(void) { return VIDIOC_S_PARM; }
static inline unsigned long porchlight_VIDIOC_REQBUFS(void) { return VIDIOC_REQBUFS; }
static inline unsigned long porchlight_VIDIOC_QUERYBUF(void) { return VIDIOC_QUERYBUF; }
static inline unsigned long porchlight_VIDIOC_QBUF(void) { return VIDIOC_QBUF; }
static inline unsigned long porchlight_VIDIOC_DQBUF(void) { return VIDIOC_DQBUF; }
static inline unsigned long porchlight_VIDIOC_STREAMON(void) { return VIDIOC_STREAMON; }
static inline unsigned long porchlight_VIDIOC_STREAMOFF(void) { return VIDIOC_STREAMOFF; }

static inline unsigned long porchlight_VIDIOC_ENUM_FRAMEINTERVALS(void) { return VIDIOC_ENUM_FRAMEINTERVALS; }

static inline unsigned int porchlight_V4L2_PIX_FMT_MJPEG(void) { return V4L2_PIX_FMT_MJPEG; }
static inline unsigned int porchlight_V4L2_PIX_FMT_JPEG(void) { return V4L2_PIX_FMT_JPEG; }
static inline unsigned int porchlight_V4L2_PIX_FMT_YUYV(void) { return V4L2_PIX_FMT_YUYV; }

#endif
