// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB, matching what Keras load_img gets from PIL 13:
// `Image.open(...)` then `convert('RGB')` (alpha dropped, never composited; no EXIF rotation, no gamma).
//
// Both libraries report fatal errors through a callback that must not return; we longjmp back to the entry
// point here, free what was allocated and return a status with the library's message. Nothing is printed.
#include "codecs.h"
#include "codecs_private.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

void hs_codec_free(void *pointer) { free(pointer); }

// ------------------------------------------------------------------------------------------------------ JPEG

typedef struct {
    struct jpeg_error_mgr pub;  // first member: libjpeg hands us a pointer to it
    jmp_buf jump;
    int warnings;
    int hit_eof;                // JWRN_JPEG_EOF: the memory source ran dry and inserted a fake EOI
    char first_warning[JMSG_LENGTH_MAX];
} hs_jpeg_error;

static void hs_jpeg_error_exit(j_common_ptr cinfo) {
    hs_jpeg_error *err = (hs_jpeg_error *)cinfo->err;
    longjmp(err->jump, 1);
}

// libjpeg's default prints the first warning ("Corrupt JPEG data: ...") to stderr. We count warnings instead;
// trace messages (level >= 0) are ignored.
static void hs_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    hs_jpeg_error *err = (hs_jpeg_error *)cinfo->err;
    if (msg_level >= 0) return;
    err->warnings += 1;
    err->pub.num_warnings += 1;
    if (err->pub.msg_code == JWRN_JPEG_EOF) err->hit_eof = 1;
    if (err->first_warning[0] == 0) err->pub.format_message(cinfo, err->first_warning);
}

static void hs_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

hs_codec_status hs_jpeg_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                   uint8_t **out_rgb, hs_codec_info *info) {
    struct jpeg_decompress_struct cinfo;
    hs_jpeg_error jerr;
    uint8_t *volatile rgb = NULL;
    JSAMPLE *volatile row = NULL;
    volatile int created = 0;

    memset(info, 0, sizeof *info);
    *out_rgb = NULL;
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = hs_jpeg_error_exit;
    jerr.pub.emit_message = hs_jpeg_emit_message;
    jerr.pub.output_message = hs_jpeg_output_message;

    if (setjmp(jerr.jump)) {
        jerr.pub.format_message((j_common_ptr)&cinfo, info->message);
        info->warnings = jerr.warnings;
        if (created) jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        return jerr.hit_eof ? HS_CODEC_TRUNCATED : HS_CODEC_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    info->width = (int32_t)cinfo.image_width;
    info->height = (int32_t)cinfo.image_height;
    info->components = cinfo.num_components;
    if ((uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height > pixel_limit) {
        jpeg_destroy_decompress(&cinfo);
        return HS_CODEC_TOO_MANY_PIXELS;
    }
    if (jerr.hit_eof) {
        hs_set_message(info, jerr.first_warning);
        info->warnings = jerr.warnings;
        jpeg_destroy_decompress(&cinfo);
        return HS_CODEC_TRUNCATED;
    }

    // PIL's decoder (libImaging/JpegDecode.c) keeps libjpeg's defaults outside draft mode: the accurate integer
    // IDCT and fancy (triangle-filter) chroma upsampling. We set them explicitly so a changed default cannot
    // drift the pixels. PIL picks the output colour space from the file's component count: 1 -> L, 3 -> RGB,
    // 4 -> CMYK read with rawmode "CMYK;I" (Adobe convention: stored inverted).
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.do_block_smoothing = TRUE;
    switch (cinfo.num_components) {
        case 1: cinfo.out_color_space = JCS_GRAYSCALE; break;
        case 3: cinfo.out_color_space = JCS_RGB; break;
        case 4: cinfo.out_color_space = JCS_CMYK; break;
        default:
            snprintf(info->message, sizeof info->message, "unsupported number of JPEG components (%d)",
                     cinfo.num_components);
            jpeg_destroy_decompress(&cinfo);
            return HS_CODEC_CORRUPT;
    }
    jpeg_start_decompress(&cinfo);

    const size_t w = cinfo.output_width, h = cinfo.output_height;
    const int nc = cinfo.output_components;
    rgb = (uint8_t *)malloc(w * h * 3);
    row = (JSAMPLE *)malloc(w * (size_t)nc);
    if (!rgb || !row) {
        free(row);
        free(rgb);
        jpeg_destroy_decompress(&cinfo);
        return HS_CODEC_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *out = rgb + (size_t)cinfo.output_scanline * w * 3;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (nc == 3) {
            memcpy(out, row, w * 3);
        } else if (nc == 1) {
            for (size_t x = 0; x < w; x++) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = row[x];
        } else {
            // "CMYK;I" unpack inverts every byte (c = 255 - stored), then PIL's cmyk2rgb.
            for (size_t x = 0; x < w; x++) {
                const JSAMPLE *p = row + 4 * x;
                hs_cmyk_to_rgb(out + 3 * x, 255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]);
            }
        }
    }
    // Reads up to EOI: a file that stops anywhere before it (even just the final marker) is truncated, as PIL
    // (LOAD_TRUNCATED_IMAGES = False) says "image file is truncated".
    jpeg_finish_decompress(&cinfo);
    info->warnings = jerr.warnings;
    if (jerr.hit_eof) {
        hs_set_message(info, jerr.first_warning);
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        return HS_CODEC_TRUNCATED;
    }
    if (jerr.first_warning[0]) hs_set_message(info, jerr.first_warning);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    *out_rgb = rgb;
    return HS_CODEC_OK;
}

// ------------------------------------------------------------------------------------------------------- PNG

// libpng's error pointer, for reading and writing alike: the first error's message and the warning count.
typedef struct {
    int warnings;
    char message[200];
} hs_png_status;

static void hs_png_error(png_structp png, png_const_charp msg) {
    hs_png_status *status = (hs_png_status *)png_get_error_ptr(png);
    if (status->message[0] == 0) snprintf(status->message, sizeof status->message, "%s", msg);
    png_longjmp(png, 1);
}

static void hs_png_warning(png_structp png, png_const_charp msg) {
    (void)msg;
    hs_png_status *status = (hs_png_status *)png_get_error_ptr(png);
    status->warnings += 1;
}

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int hit_eof;
    hs_png_status status;
} hs_png_context;

static void hs_png_read(png_structp png, png_bytep out, size_t n) {
    hs_png_context *ctx = (hs_png_context *)png_get_io_ptr(png);
    if (n > ctx->size - ctx->pos) {
        ctx->hit_eof = 1;
        png_error(png, "file ends before the PNG data does");
    }
    memcpy(out, ctx->data + ctx->pos, n);
    ctx->pos += n;
}

static uint32_t hs_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

hs_codec_status hs_png_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                  uint8_t **out_rgb, hs_codec_info *info) {
    hs_png_context ctx;
    png_structp png = NULL;
    png_infop pinfo = NULL;
    uint8_t *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile raw = NULL;

    memset(info, 0, sizeof *info);
    memset(&ctx, 0, sizeof ctx);
    *out_rgb = NULL;
    ctx.data = data;
    ctx.size = size;

    // The pixel limit is checked on IHDR (always the first chunk, at a fixed offset) before libpng reads
    // anything else, so a header claiming a huge image is refused without touching its data.
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = hs_be32(data + 16), h = hs_be32(data + 20);
        if ((uint64_t)w * (uint64_t)h > pixel_limit) {
            info->width = (int32_t)(w > INT32_MAX ? INT32_MAX : w);
            info->height = (int32_t)(h > INT32_MAX ? INT32_MAX : h);
            return HS_CODEC_TOO_MANY_PIXELS;
        }
    }

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx.status, hs_png_error, hs_png_warning);
    if (!png) return HS_CODEC_NO_MEMORY;
    pinfo = png_create_info_struct(png);
    if (!pinfo) {
        png_destroy_read_struct(&png, NULL, NULL);
        return HS_CODEC_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(rows);
        free(raw);
        free(rgb);
        memcpy(info->message, ctx.status.message, sizeof info->message);
        info->warnings = ctx.status.warnings;
        return ctx.hit_eof ? HS_CODEC_TRUNCATED : HS_CODEC_CORRUPT;
    }
    png_set_read_fn(png, &ctx, hs_png_read);
    png_read_info(png, pinfo);

    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    info->width = (int32_t)w;
    info->height = (int32_t)h;
    info->components = png_get_channels(png, pinfo);
    if ((uint64_t)w * (uint64_t)h > pixel_limit) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        return HS_CODEC_TOO_MANY_PIXELS;
    }

    // What PIL's convert('RGB') yields, per PNG layout (PngImagePlugin._MODES, then libImaging/Convert.c):
    //   palette (any depth, with or without tRNS) -> palette colours; alpha from tRNS dropped
    //   gray 1/2/4-bit -> scaled to 0..255 (x*255, x*85, x*17), replicated to R=G=B
    //   gray 8-bit (tRNS ignored) -> replicated
    //   gray 16-bit ("I;16") -> clipped, not scaled: v > 255 ? 255 : v
    //   gray+alpha 16-bit ("LA;16B" into RGBA), RGB/RGBA 16-bit ("RGB;16B"/"RGBA;16B") -> high byte
    //   any alpha channel -> dropped, not composited
    // No gamma, sBIT or colour-profile handling: PIL applies none of them.
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if ((color_type & PNG_COLOR_MASK_ALPHA) || color_type == PNG_COLOR_TYPE_PALETTE) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);

    const size_t rowbytes = png_get_rowbytes(png, pinfo);
    const int channels = png_get_channels(png, pinfo);
    const int depth = png_get_bit_depth(png, pinfo);
    if (!((channels == 1 || channels == 3) && (depth == 8 || depth == 16))) {
        snprintf(ctx.status.message, sizeof ctx.status.message, "unexpected PNG layout after expansion (%d channels, %d bits)",
                 channels, depth);
        png_error(png, ctx.status.message);
    }
    raw = (uint8_t *)malloc(rowbytes * h);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    rgb = (uint8_t *)malloc((size_t)w * h * 3);
    if (!raw || !rows || !rgb) {
        free(rows);
        free(raw);
        free(rgb);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return HS_CODEC_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + rowbytes * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    const int clip16 = (color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16);
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *in = rows[y];
        uint8_t *out = rgb + (size_t)y * w * 3;
        for (png_uint_32 x = 0; x < w; x++) {
            if (channels == 3 && depth == 8) {
                out[3 * x] = in[3 * x]; out[3 * x + 1] = in[3 * x + 1]; out[3 * x + 2] = in[3 * x + 2];
            } else if (channels == 3) {
                out[3 * x] = in[6 * x]; out[3 * x + 1] = in[6 * x + 2]; out[3 * x + 2] = in[6 * x + 4];
            } else {
                uint8_t v;
                if (depth == 8) v = in[x];
                else if (clip16) v = in[2 * x] ? 255 : in[2 * x + 1];
                else v = in[2 * x];
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = v;
            }
        }
    }
    info->warnings = ctx.status.warnings;
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(rows);
    free(raw);
    *out_rgb = rgb;
    return HS_CODEC_OK;
}

// ================================================================================================================
// PNG encoding (augment-preview grids). A separate block: the decoders above are untouched.
//
// 8-bit RGB, no interlace, libpng's default filters and zlib level 6; written into a growing malloc'd buffer.
// libpng errors longjmp back here like the decoder's; nothing is printed.
// ================================================================================================================

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    hs_png_status status;
} hs_png_sink;

static void hs_png_sink_write(png_structp png, png_bytep bytes, size_t n) {
    hs_png_sink *sink = (hs_png_sink *)png_get_io_ptr(png);
    if (sink->size + n > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (capacity < sink->size + n) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory for the encoded PNG");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, n);
    sink->size += n;
}

static void hs_png_sink_flush(png_structp png) { (void)png; }

hs_codec_status hs_png_encode_rgb(const uint8_t *rgb, int32_t width, int32_t height,
                                  uint8_t **out_png, size_t *out_size, hs_codec_info *info) {
    *out_png = NULL;
    *out_size = 0;
    memset(info, 0, sizeof *info);
    info->width = width;
    info->height = height;
    info->components = 3;
    if (width <= 0 || height <= 0) {
        hs_set_message(info, "image has no pixels");
        return HS_CODEC_CORRUPT;
    }
    hs_png_sink sink;
    memset(&sink, 0, sizeof sink);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink.status, hs_png_error, hs_png_warning);
    if (!png) return HS_CODEC_NO_MEMORY;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) {
        png_destroy_write_struct(&png, NULL);
        return HS_CODEC_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &pinfo);
        free(sink.data);
        hs_set_message(info, sink.status.message);
        info->warnings = sink.status.warnings;
        return HS_CODEC_CORRUPT;
    }
    png_set_write_fn(png, &sink, hs_png_sink_write, hs_png_sink_flush);
    png_set_IHDR(png, pinfo, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, pinfo);
    for (int32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)width * 3));
    png_write_end(png, pinfo);
    png_destroy_write_struct(&png, &pinfo);
    info->warnings = sink.status.warnings;
    *out_png = sink.data;
    *out_size = sink.size;
    return HS_CODEC_OK;
}
