// Helpers shared by the codec glue files (codecs.c, tiff.c, gif.c, webp.c); not part of the module's API.
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "codecs.h"

static inline void hs_set_message(hs_codec_info *info, const char *text) {
    snprintf(info->message, sizeof info->message, "%s", text);
}

// PIL's MULDIV255 (libImaging/ImagingUtils.h): a*b/255 rounded, without a division.
static inline int hs_muldiv255(int a, int b) {
    int tmp = a * b + 128;
    return ((tmp >> 8) + tmp) >> 8;
}

// PIL's cmyk2rgb (libImaging/Convert.c), the naive conversion convert('RGB') applies to a CMYK image:
// nk = 255 - k; R = nk - MULDIV255(c, nk), G and B likewise from m and y.
static inline void hs_cmyk_to_rgb(uint8_t *out, int c, int m, int y, int k) {
    int nk = 255 - k;
    out[0] = (uint8_t)(nk - hs_muldiv255(c, nk));
    out[1] = (uint8_t)(nk - hs_muldiv255(m, nk));
    out[2] = (uint8_t)(nk - hs_muldiv255(y, nk));
}

// width * height checked against the pixel limit (and a side of 0 refused) before anything is allocated.
// Returns HS_CODEC_OK, or the status to return with info->message set.
static inline hs_codec_status hs_check_size(uint64_t width, uint64_t height, uint64_t pixel_limit,
                                            hs_codec_info *info) {
    info->width = (int32_t)(width > INT32_MAX ? INT32_MAX : width);
    info->height = (int32_t)(height > INT32_MAX ? INT32_MAX : height);
    if (width == 0 || height == 0) {
        snprintf(info->message, sizeof info->message,
                 "the header gives a size of %llux%llu pixels; an image has at least one pixel each way",
                 (unsigned long long)width, (unsigned long long)height);
        return HS_CODEC_CORRUPT;
    }
    // Both sides are below 2^32 in every format here, so the product fits 64 bits.
    if (width > UINT32_MAX || height > UINT32_MAX || width * height > pixel_limit) return HS_CODEC_TOO_MANY_PIXELS;
    return HS_CODEC_OK;
}
