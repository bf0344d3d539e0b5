#ifndef PORCHLIGHT_CTURBOJPEG_SHIM_H
#define PORCHLIGHT_CTURBOJPEG_SHIM_H
// libturbojpeg (TurboJPEG API 2.x). Everything imports directly; no shims needed yet.
#include <turbojpeg.h>
#endif
