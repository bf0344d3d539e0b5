#ifndef PORCHLIGHT_CALSA_SHIM_H
#define PORCHLIGHT_CALSA_SHIM_H
// libasound. The *_alloca macros cannot be imported; LinuxAudio uses the *_malloc/*_free pairs.
#include <alsa/asoundlib.h>

// libasound prints its own diagnostics to stderr (several lines per failed open of a missing
// card, on every retry). LinuxAudio reports each failure itself, with the device, the call and
// snd_strerror, rate-limited, so the audio thread silences the library's copy. The handler takes
// a va_list, which Swift cannot define portably, hence this shim.
static void porchlight_alsa_ignore(const char *file, int line, const char *function, int error,
                                   const char *format, va_list arguments) {
    (void)file; (void)line; (void)function; (void)error; (void)format; (void)arguments;
}

/// Silences libasound's stderr messages on the calling thread only.
static inline void porchlight_alsa_quiet_this_thread(void) {
    snd_lib_error_set_local(porchlight_alsa_ignore);
}
#endif
