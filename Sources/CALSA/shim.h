#ifndef PORCHLIGHT_CALSA_SHIM_H
#define PORCHLIGHT_CALSA_SHIM_H
// libasound. The *_alloca macros cannot be imported; LinuxAudio uses the *_malloc/*_free pairs.
#include <alsa/asoundlib.h>
#endif
