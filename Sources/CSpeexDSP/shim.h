#ifndef PORCHLIGHT_CSPEEXDSP_SHIM_H
#define PORCHLIGHT_CSPEEXDSP_SHIM_H
// speexdsp: the echo canceller, the preprocessor (noise and residual-echo suppression) and the
// resampler. Everything imports directly.
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <speex/speex_resampler.h>
#endif
