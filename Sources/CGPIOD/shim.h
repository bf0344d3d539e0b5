#ifndef PORCHLIGHT_CGPIOD_SHIM_H
#define PORCHLIGHT_CGPIOD_SHIM_H
// libgpiod, the GPIO character-device library.
//
// Debian 12 / Raspberry Pi OS bookworm ship libgpiod 1.6 (the v1 API: gpiod_chip_open_lookup,
// gpiod_line_request_*, gpiod_line_event_read). Raspberry Pi OS trixie ships libgpiod 2.x, whose
// API is different (gpiod_request_config, gpiod_line_settings, gpiod_edge_event_buffer).
// PORCHLIGHT_GPIOD_API tells Swift which one the headers provide, so LinuxGPIO can select its
// implementation at compile time (`#if` on the imported constant is not possible, so LinuxGPIO
// uses a compilation condition set from this value in Package.swift when v2 support lands).
#include <gpiod.h>
// The reader thread's wake-up descriptor; Swift's Glibc module leaves this header out.
#include <sys/eventfd.h>

#ifdef GPIOD_LINE_BULK_MAX_LINES
#define PORCHLIGHT_GPIOD_API 1
#else
#define PORCHLIGHT_GPIOD_API 2
#endif

static const int porchlight_gpiod_api = PORCHLIGHT_GPIOD_API;

#endif
