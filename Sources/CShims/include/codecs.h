#pragma once
#include <stddef.h>
#include <stdint.h>

// JPEG, PNG, TIFF, GIF and WebP decoding to 8-bit RGB, as PIL 13 does it (see codecs.c, tiff.c, gif.c, webp.c
// for the exact rules). libjpeg and libpng report fatal errors by longjmp, libtiff through handlers; that stays on
// this side of the boundary: every function here returns a status
// and never prints, never exits and never longjmps into Swift.

typedef enum {
    HS_CODEC_OK = 0,
    HS_CODEC_CORRUPT = 1,          // the library refused the data; message says why
    HS_CODEC_TRUNCATED = 2,        // the data ended before the image did
    HS_CODEC_TOO_MANY_PIXELS = 3,  // width * height > pixel_limit; width and height are set, nothing decoded
    HS_CODEC_NO_MEMORY = 4,
    HS_CODEC_UNSUPPORTED = 5,      // a layout of the format headstart does not read; message names it
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
// TIFF (libtiff: the first directory), GIF (giflib: the first frame on its logical screen) and WebP (libwebp's
// animation decoder, as PIL uses it: the first frame), each as PIL 13's Image.open + convert('RGB'): see
// tiff.c, gif.c and webp.c for the rules. Same contract as above.
hs_codec_status hs_tiff_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                   uint8_t **out_rgb, hs_codec_info *info);
hs_codec_status hs_gif_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                  uint8_t **out_rgb, hs_codec_info *info);
hs_codec_status hs_webp_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                   uint8_t **out_rgb, hs_codec_info *info);
void hs_codec_free(void *pointer);

// --- PNG encoding (augment preview) --------------------------------------------------------------------------
// Encodes width*height*3 bytes of row-major RGB8 as a PNG. On HS_CODEC_OK *out_png points to *out_size bytes
// (malloc'd: free with hs_codec_free); otherwise *out_png is NULL and info->message says why.
hs_codec_status hs_png_encode_rgb(const uint8_t *rgb, int32_t width, int32_t height,
                                  uint8_t **out_png, size_t *out_size, hs_codec_info *info);
