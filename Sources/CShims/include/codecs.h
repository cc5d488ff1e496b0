#pragma once
#include <stddef.h>
#include <stdint.h>
// Image decoders with libjpeg's and libpng's longjmp error handling kept on the C side.
// Filled in by the image-decoding work; see codecs.c.
