// TIFF (libtiff) decoding to 8-bit RGB as PIL 13 does for Keras load_img: the first directory (page), its
// samples read as stored (libtiff undoes the compression, the predictor, the fill order and the byte order),
// then unpacked with the raw mode PIL's TiffImagePlugin.OPEN_INFO gives the layout, then convert('RGB'):
//   gray, MinIsBlack 1/2/4/8 bits     "1", "L;2", "L;4", "L": v scaled to 0..255 (x255, x85, x17, x1)
//   gray, MinIsWhite 1/2/4/8 bits     "1;I", "L;2I", "L;4I", "L;I": the same, inverted (255 - v)
//   gray 16 bits (either photometric) "I;16"/"I;16B": clipped, not scaled (v > 255 ? 255 : v)
//   gray 8 + extra sample             "LA" (unassociated) or "LX" (unspecified): the extra sample dropped
//   RGB 8/16 bits (+ extra samples)   "RGB", "RGBX", "RGBA", "RGB;16L", ...: 16-bit samples keep their high
//                                     byte; an unassociated or unspecified extra sample is dropped
//   RGB + associated alpha ("RGBa")   PIL un-premultiplies on unpacking: c = a ? min(255, c * 255 / a) : 0
//   palette 1/2/4/8 bits              "P;1" ... "P": the colour map's 16-bit entries reduced to v / 256
//   CMYK 8/16 bits (ink set CMYK)     "CMYK", "CMYK;16L/B": PIL's naive cmyk2rgb on the (high) bytes
//   YCbCr, JPEG-compressed            libtiff's JPEG codec converts to RGB (JPEGCOLORMODE_RGB), as PIL has it do
// Other layouts (uncompressed YCbCr, CIELab, float or signed samples, separate planes, ...) are refused as unsupported,
// named. libtiff reports problems through handlers: both kinds are caught per file through TIFFOpenOptions
// (libtiff 4.5's TIFFOpenOptionsSetErrorHandlerExtR / SetWarningHandlerExtR: the first error becomes the message,
// warnings are counted) and the process-wide handlers are cleared once, so that nothing reaches stderr.
// Sizes: width x height against the pixel limit, every buffer size computed in 64 bits, and libtiff's single
// allocations capped, before any pixel is read.
#include "codecs.h"
#include "codecs_private.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

typedef struct {
    const uint8_t *data;
    uint64_t size, pos;
    int hit_eof;
    int warnings;
    char message[200];
} hs_tiff_source;

static tmsize_t hs_tiff_read(thandle_t handle, void *out, tmsize_t n) {
    hs_tiff_source *src = (hs_tiff_source *)handle;
    uint64_t want = n < 0 ? 0 : (uint64_t)n, left = src->pos < src->size ? src->size - src->pos : 0;
    if (want > left) {
        src->hit_eof = 1;
        want = left;
    }
    memcpy(out, src->data + src->pos, (size_t)want);
    src->pos += want;
    return (tmsize_t)want;
}

static tmsize_t hs_tiff_write(thandle_t handle, void *in, tmsize_t n) {
    (void)handle; (void)in; (void)n;
    return 0;
}

static toff_t hs_tiff_seek(thandle_t handle, toff_t offset, int whence) {
    hs_tiff_source *src = (hs_tiff_source *)handle;
    uint64_t base = whence == SEEK_CUR ? src->pos : whence == SEEK_END ? src->size : 0;
    if (offset > UINT64_MAX - base) return (toff_t)-1;
    src->pos = base + offset;  // past the end is allowed, as for a file; reads there come back short
    return src->pos;
}

static int hs_tiff_close(thandle_t handle) { (void)handle; return 0; }
static toff_t hs_tiff_size(thandle_t handle) { return ((hs_tiff_source *)handle)->size; }
static int hs_tiff_map(thandle_t handle, void **base, toff_t *size) { (void)handle; (void)base; (void)size; return 0; }
static void hs_tiff_unmap(thandle_t handle, void *base, toff_t size) { (void)handle; (void)base; (void)size; }

static int hs_tiff_on_error(TIFF *tif, void *user, const char *module, const char *format, va_list args) {
    (void)tif; (void)module;
    hs_tiff_source *src = (hs_tiff_source *)user;
    if (src && src->message[0] == 0) vsnprintf(src->message, sizeof src->message, format, args);
    return 1;  // handled: libtiff must not go on to its process-wide handler
}

static int hs_tiff_on_warning(TIFF *tif, void *user, const char *module, const char *format, va_list args) {
    (void)tif; (void)module; (void)format; (void)args;
    if (user) ((hs_tiff_source *)user)->warnings += 1;
    return 1;
}

// A few of libtiff's messages are raised where no TIFF handle (so no per-file handler) is at hand; those go to
// the process-wide handlers, which print by default. They are cleared once for the process.
static pthread_once_t hs_tiff_once = PTHREAD_ONCE_INIT;
static void hs_tiff_silence(void) {
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

// One sample of `bits` (1, 2, 4, 8 or 16) at sample index i of a row, most significant bits first; 16-bit
// samples are in host order (libtiff swaps them).
static inline unsigned hs_tiff_sample(const uint8_t *row, uint64_t i, int bits) {
    switch (bits) {
        case 8: return row[i];
        case 16: { uint16_t v; memcpy(&v, row + 2 * i, 2); return v; }
        default: {
            const uint64_t bit = i * (uint64_t)bits;
            return (row[bit >> 3] >> (8 - bits - (int)(bit & 7))) & ((1u << bits) - 1);
        }
    }
}

typedef enum { HS_TIFF_GRAY, HS_TIFF_RGB, HS_TIFF_PALETTE, HS_TIFF_CMYK } hs_tiff_kind;

hs_codec_status hs_tiff_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                   uint8_t **out_rgb, hs_codec_info *info) {
    memset(info, 0, sizeof *info);
    *out_rgb = NULL;
    pthread_once(&hs_tiff_once, hs_tiff_silence);
    hs_tiff_source src;
    memset(&src, 0, sizeof src);
    src.data = data;
    src.size = size;

    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (!options) return HS_CODEC_NO_MEMORY;
    TIFFOpenOptionsSetErrorHandlerExtR(options, hs_tiff_on_error, &src);
    TIFFOpenOptionsSetWarningHandlerExtR(options, hs_tiff_on_warning, &src);
    // No single allocation of libtiff's (strip buffers, tag arrays) may pass what the pixel limit could need:
    // 8 bytes per pixel plus 64 MiB, as ImageDecoder.maxFileBytes.
    const uint64_t cap = pixel_limit > (UINT64_MAX - (64u << 20)) / 8 ? UINT64_MAX : pixel_limit * 8 + (64u << 20);
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, cap > (uint64_t)INT64_MAX ? (tmsize_t)INT64_MAX : (tmsize_t)cap);
    // "m": never memory-map (there is no file); "h": read the header only as needed.
    TIFF *tif = TIFFClientOpenExt("TIFF", "rm", (thandle_t)&src, hs_tiff_read, hs_tiff_write, hs_tiff_seek,
                                  hs_tiff_close, hs_tiff_size, hs_tiff_map, hs_tiff_unmap, options);
    TIFFOpenOptionsFree(options);
    uint8_t *raw = NULL, *rgb = NULL, *tile = NULL;
    hs_codec_status status = HS_CODEC_CORRUPT;
    if (!tif) goto fail;

    uint32_t width = 0, height = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height)) {
        snprintf(src.message, sizeof src.message, "no ImageWidth or ImageLength tag");
        goto fail;
    }
    uint16_t bits = 1, spp = 1, photometric = 0, sample_format = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG;
    uint16_t extra_count = 0, *extra = NULL;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &sample_format);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &extra_count, &extra);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric)) photometric = PHOTOMETRIC_MINISWHITE;  // PIL's default
    info->components = spp;
    status = hs_check_size(width, height, pixel_limit, info);
    if (status != HS_CODEC_OK) {
        TIFFClose(tif);
        return status;
    }
    status = HS_CODEC_CORRUPT;

    // Which of PIL's layouts this is; anything else is named and refused.
    hs_tiff_kind kind;
    int colour_samples = 0, associated = 0;
    const int extra_first = extra_count > 0 && extra ? extra[0] : -1;
    switch (photometric) {
        case PHOTOMETRIC_MINISWHITE:
        case PHOTOMETRIC_MINISBLACK:
            kind = HS_TIFF_GRAY; colour_samples = 1;
            if (!(spp == 1 && (bits == 1 || bits == 2 || bits == 4 || bits == 8 || bits == 16)) &&
                !(spp == 2 && bits == 8 && photometric == PHOTOMETRIC_MINISBLACK && (extra_first == 0 || extra_first == 2)))
                goto unsupported;
            break;
        case PHOTOMETRIC_RGB:
            kind = HS_TIFF_RGB; colour_samples = 3;
            if (bits == 8 && spp >= 3 && spp <= 6) {
                associated = spp > 3 && extra_first == EXTRASAMPLE_ASSOCALPHA;
            } else if (bits == 16 && (spp == 3 || spp == 4)) {
                associated = spp == 4 && extra_first == EXTRASAMPLE_ASSOCALPHA;
            } else {
                goto unsupported;
            }
            break;
        case PHOTOMETRIC_YCBCR: {
            // JPEG-compressed YCbCr: PIL has libtiff's JPEG codec convert to RGB (JPEGCOLORMODE_RGB), as here.
            uint16_t compression = COMPRESSION_NONE;
            TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
            if (compression != COMPRESSION_JPEG || bits != 8 || spp != 3) goto unsupported;
            if (!TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)) goto fail;
            kind = HS_TIFF_RGB; colour_samples = 3;
            break;
        }
        case PHOTOMETRIC_PALETTE:
            kind = HS_TIFF_PALETTE; colour_samples = 1;
            if (!((spp == 1 && (bits == 1 || bits == 2 || bits == 4 || bits == 8)) ||
                  (spp == 2 && bits == 8 && (extra_first == 0 || extra_first == 2))))
                goto unsupported;
            break;
        case PHOTOMETRIC_SEPARATED: {
            uint16_t inkset = INKSET_CMYK;
            TIFFGetFieldDefaulted(tif, TIFFTAG_INKSET, &inkset);
            kind = HS_TIFF_CMYK; colour_samples = 4;
            if (inkset != INKSET_CMYK || !((bits == 8 && spp >= 4 && spp <= 6) || (bits == 16 && spp == 4)))
                goto unsupported;
            break;
        }
        default:
            goto unsupported;
    }
    if ((sample_format != SAMPLEFORMAT_UINT && !(sample_format == SAMPLEFORMAT_INT && kind == HS_TIFF_GRAY && bits == 8)) ||
        (planar != PLANARCONFIG_CONTIG && spp > 1))
        goto unsupported;
    (void)colour_samples;

    uint16_t *map_r = NULL, *map_g = NULL, *map_b = NULL;
    if (kind == HS_TIFF_PALETTE && !TIFFGetField(tif, TIFFTAG_COLORMAP, &map_r, &map_g, &map_b)) {
        snprintf(src.message, sizeof src.message, "a palette image without a ColorMap tag");
        goto fail;
    }

    // The samples of every row, packed as stored: rows of ceil(width * spp * bits / 8) bytes. width * height
    // is within the pixel limit, spp <= 6 and bits <= 16, so each product below stays far inside 64 bits.
    const uint64_t row_bytes = ((uint64_t)width * spp * bits + 7) / 8;
    const uint64_t raw_bytes = row_bytes * height;
    if (raw_bytes > SIZE_MAX / 2) { status = HS_CODEC_NO_MEMORY; goto fail; }
    raw = (uint8_t *)malloc((size_t)raw_bytes);
    rgb = (uint8_t *)malloc((size_t)width * height * 3);
    if (!raw || !rgb) { status = HS_CODEC_NO_MEMORY; goto fail; }
    if (TIFFIsTiled(tif)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
        const uint64_t tile_row = ((uint64_t)tw * spp * bits + 7) / 8, tile_bytes = (uint64_t)TIFFTileSize64(tif);
        if (tw == 0 || th == 0 || tile_bytes < tile_row * th || tile_bytes > cap || ((uint64_t)tw * spp * bits) % 8) {
            snprintf(src.message, sizeof src.message, "tiles of %ux%u do not fit the image's samples", tw, th);
            goto fail;
        }
        tile = (uint8_t *)malloc((size_t)tile_bytes);
        if (!tile) { status = HS_CODEC_NO_MEMORY; goto fail; }
        for (uint32_t ty = 0; ty < height; ty += th) {
            for (uint32_t tx = 0; tx < width; tx += tw) {
                if (TIFFReadTile(tif, tile, tx, ty, 0, 0) < 0) goto fail;
                const uint64_t x_byte = (uint64_t)tx * spp * bits / 8;
                const uint64_t copy = row_bytes - x_byte < tile_row ? row_bytes - x_byte : tile_row;
                for (uint32_t y = 0; y < th && ty + y < height; y++)
                    memcpy(raw + (uint64_t)(ty + y) * row_bytes + x_byte, tile + (uint64_t)y * tile_row, (size_t)copy);
            }
        }
    } else {
        if ((uint64_t)TIFFScanlineSize64(tif) != row_bytes) {
            snprintf(src.message, sizeof src.message, "scanlines of %llu bytes for rows of %llu",
                     (unsigned long long)TIFFScanlineSize64(tif), (unsigned long long)row_bytes);
            goto fail;
        }
        for (uint32_t y = 0; y < height; y++)
            if (TIFFReadScanline(tif, raw + (uint64_t)y * row_bytes, y, 0) < 0) goto fail;
    }
    if (src.message[0]) goto fail;  // an error libtiff recovered from still leaves the pixels in doubt

    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *row = raw + (uint64_t)y * row_bytes;
        uint8_t *out = rgb + (uint64_t)y * width * 3;
        for (uint64_t x = 0; x < width; x++, out += 3) {
            const uint64_t s = x * spp;
            switch (kind) {
                case HS_TIFF_GRAY: {
                    unsigned v = hs_tiff_sample(row, s, bits);
                    if (bits == 16) v = v > 255 ? 255 : v;
                    else {
                        v = v * (bits == 1 ? 255 : bits == 2 ? 85 : bits == 4 ? 17 : 1);
                        if (photometric == PHOTOMETRIC_MINISWHITE) v = 255 - v;
                    }
                    out[0] = out[1] = out[2] = (uint8_t)v;
                    break;
                }
                case HS_TIFF_RGB: {
                    unsigned c[4];
                    for (int k = 0; k < (associated ? 4 : 3); k++) c[k] = hs_tiff_sample(row, s + k, bits) >> (bits - 8);
                    if (associated) {
                        // PIL's unpackRGBa (libImaging/Unpack.c): CLIP8(c * 255 / a), 0 where a is 0.
                        for (int k = 0; k < 3; k++) {
                            unsigned v = c[3] ? c[k] * 255 / c[3] : 0;
                            c[k] = v > 255 ? 255 : v;
                        }
                    }
                    out[0] = (uint8_t)c[0]; out[1] = (uint8_t)c[1]; out[2] = (uint8_t)c[2];
                    break;
                }
                case HS_TIFF_PALETTE: {
                    const unsigned i = hs_tiff_sample(row, s, bits);
                    out[0] = (uint8_t)(map_r[i] >> 8); out[1] = (uint8_t)(map_g[i] >> 8); out[2] = (uint8_t)(map_b[i] >> 8);
                    break;
                }
                case HS_TIFF_CMYK: {
                    const int shift = bits - 8;
                    hs_cmyk_to_rgb(out, (int)(hs_tiff_sample(row, s, bits) >> shift), (int)(hs_tiff_sample(row, s + 1, bits) >> shift),
                                   (int)(hs_tiff_sample(row, s + 2, bits) >> shift), (int)(hs_tiff_sample(row, s + 3, bits) >> shift));
                    break;
                }
            }
        }
    }
    info->warnings = src.warnings;
    TIFFClose(tif);
    free(tile);
    free(raw);
    *out_rgb = rgb;
    return HS_CODEC_OK;

unsupported:
    snprintf(src.message, sizeof src.message,
             "TIFF with photometric interpretation %u, %u samples of %u bits (format %u), planar configuration %u",
             photometric, spp, bits, sample_format, planar);
    status = HS_CODEC_UNSUPPORTED;
fail:
    if (tif) TIFFClose(tif);
    free(tile);
    free(raw);
    free(rgb);
    info->warnings = src.warnings;
    if (status == HS_CODEC_CORRUPT && src.message[0] == 0) hs_set_message(info, "libtiff cannot read the image");
    else memcpy(info->message, src.message, sizeof info->message);
    if (status == HS_CODEC_CORRUPT && src.hit_eof) status = HS_CODEC_TRUNCATED;
    return status;
}
