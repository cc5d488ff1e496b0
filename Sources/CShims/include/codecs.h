#pragma once
#include <stddef.h>
#include <stdint.h>

// JPEG and PNG decoding to 8-bit RGB, as PIL 13 does it (see codecs.c for the exact rules). libjpeg and libpng
// report fatal errors by longjmp; that stays on this side of the boundary: every function here returns a status
// and never prints, never exits and never longjmps into Swift.

typedef enum {
    HS_CODEC_OK = 0,
    HS_CODEC_CORRUPT = 1,          // the library refused the data; message says why
    HS_CODEC_TRUNCATED = 2,        // the data ended before the image did
    HS_CODEC_TOO_MANY_PIXELS = 3,  // width * height > pixel_limit; width and height are set, nothing decoded
    HS_CODEC_NO_MEMORY = 4,
} hs_codec_status;

typedef struct {
    int32_t width;
    int32_t height;
    int32_t warnings;       // libjpeg "Corrupt JPEG data" style warnings / libpng warnings, counted not printed
    int32_t components;     // colour components in the file (1 gray, 2 gray+alpha, 3, 4), for diagnostics
    char message[200];      // the library's own message for CORRUPT / TRUNCATED (JMSG_LENGTH_MAX is 200)
} hs_codec_info;

// Decodes a whole JPEG / PNG held in memory. On HS_CODEC_OK *out_rgb points to width*height*3 bytes
// (row-major HWC, malloc'd: the caller frees it with hs_codec_free). On any other status *out_rgb is NULL.
hs_codec_status hs_jpeg_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                   uint8_t **out_rgb, hs_codec_info *info);
hs_codec_status hs_png_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                  uint8_t **out_rgb, hs_codec_info *info);
void hs_codec_free(void *pointer);
