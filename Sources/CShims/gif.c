// GIF (giflib) decoding to 8-bit RGB as PIL 13 does for Keras load_img: Image.open gives the first frame
// (GifImagePlugin, LOADING_STRATEGY RGB_AFTER_FIRST: mode P, or L without a colour table), convert('RGB') looks
// each index up in the palette. The rules, from GifImagePlugin._seek(0) and load_prepare:
//   - the image is the logical screen, grown to hold the first frame when the frame reaches past it;
//   - the canvas starts as the frame's transparent index where its graphic control extension gives one (the
//     last such extension before the frame), else index 0; the frame's rectangle is then filled from its data;
//   - the palette is the frame's local colour table, else the global one, else none (index i is gray i);
//     indices past the end of the table are black; transparency is dropped (convert('RGB') does not composite);
//   - interlaced frames are stored in four passes (rows 0, 8, ...; 4, 12, ...; 2, 6, ...; 1, 3, ...);
//   - only the first frame is read: later frames, even broken ones, are never looked at.
// giflib reports errors as codes, never prints. The pixel limit is checked on the canvas before allocation.
#include "codecs.h"
#include "codecs_private.h"

#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int hit_eof;
} hs_gif_source;

static int hs_gif_read(GifFileType *gif, GifByteType *out, int n) {
    hs_gif_source *src = (hs_gif_source *)gif->UserData;
    size_t want = n < 0 ? 0 : (size_t)n, left = src->size - src->pos;
    if (want > left) {
        src->hit_eof = 1;
        want = left;
    }
    memcpy(out, src->data + src->pos, want);
    src->pos += want;
    return (int)want;
}

static hs_codec_status hs_gif_failure(hs_gif_source *src, int error, hs_codec_info *info) {
    const char *text = GifErrorString(error);
    hs_set_message(info, text ? text : "unknown giflib error");
    return src->hit_eof ? HS_CODEC_TRUNCATED : HS_CODEC_CORRUPT;
}

hs_codec_status hs_gif_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                  uint8_t **out_rgb, hs_codec_info *info) {
    memset(info, 0, sizeof *info);
    *out_rgb = NULL;
    hs_gif_source src = {data, size, 0, 0};
    int error = 0;
    GifFileType *gif = DGifOpen(&src, hs_gif_read, &error);
    if (!gif) return hs_gif_failure(&src, error, info);

    int transparent = -1, found = 0;
    while (!found) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) == GIF_ERROR) goto fail;
        switch (type) {
            case IMAGE_DESC_RECORD_TYPE:
                if (DGifGetImageDesc(gif) == GIF_ERROR) goto fail;
                found = 1;
                break;
            case EXTENSION_RECORD_TYPE: {
                int code = 0;
                GifByteType *block = NULL;
                if (DGifGetExtension(gif, &code, &block) == GIF_ERROR) goto fail;
                // Graphic control extension: block[0] is the sub-block length, then flags, delay (2), index.
                if (code == GRAPHICS_EXT_FUNC_CODE && block && block[0] >= 4 && (block[1] & 1)) transparent = block[4];
                while (block) {
                    if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) goto fail;
                }
                break;
            }
            case TERMINATE_RECORD_TYPE:
                hs_set_message(info, "the file ends before its first image");
                DGifCloseFile(gif, &error);
                return HS_CODEC_CORRUPT;
            default:
                hs_set_message(info, "unknown GIF record type");
                DGifCloseFile(gif, &error);
                return HS_CODEC_CORRUPT;
        }
    }

    const GifImageDesc *frame = &gif->Image;
    const uint64_t left = (uint64_t)frame->Left, top = (uint64_t)frame->Top;
    const uint64_t fw = (uint64_t)frame->Width, fh = (uint64_t)frame->Height;
    uint64_t cw = (uint64_t)gif->SWidth, ch = (uint64_t)gif->SHeight;
    if (left + fw > cw) cw = left + fw;
    if (top + fh > ch) ch = top + fh;
    info->components = 1;
    hs_codec_status status = hs_check_size(cw, ch, pixel_limit, info);
    if (status != HS_CODEC_OK) {
        DGifCloseFile(gif, &error);
        return status;
    }

    // The palette as 256 RGB entries: the table's colours, black past its end (or gray ramp without a table).
    uint8_t palette[256 * 3];
    const ColorMapObject *map = frame->ColorMap ? frame->ColorMap : gif->SColorMap;
    for (int i = 0; i < 256; i++) {
        uint8_t *p = palette + 3 * i;
        if (!map) {
            p[0] = p[1] = p[2] = (uint8_t)i;
        } else if (i < map->ColorCount) {
            p[0] = map->Colors[i].Red; p[1] = map->Colors[i].Green; p[2] = map->Colors[i].Blue;
        } else {
            p[0] = p[1] = p[2] = 0;
        }
    }

    uint8_t *rgb = (uint8_t *)malloc((size_t)(cw * ch * 3));
    GifPixelType *line = (GifPixelType *)malloc(fw ? (size_t)fw : 1);
    if (!rgb || !line) {
        free(rgb);
        free(line);
        DGifCloseFile(gif, &error);
        return HS_CODEC_NO_MEMORY;
    }
    const uint8_t *fill = palette + 3 * (transparent >= 0 ? transparent : 0);
    for (uint64_t i = 0; i < cw * ch; i++) memcpy(rgb + 3 * i, fill, 3);

    static const int pass_start[4] = {0, 4, 2, 1}, pass_step[4] = {8, 8, 4, 2};
    const int passes = frame->Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; pass++) {
        const uint64_t start = frame->Interlace ? (uint64_t)pass_start[pass] : 0;
        const uint64_t step = frame->Interlace ? (uint64_t)pass_step[pass] : 1;
        for (uint64_t y = start; y < fh; y += step) {
            if (DGifGetLine(gif, line, (int)fw) == GIF_ERROR) {
                free(rgb);
                free(line);
                goto fail;
            }
            uint8_t *out = rgb + ((top + y) * cw + left) * 3;
            for (uint64_t x = 0; x < fw; x++) memcpy(out + 3 * x, palette + 3 * line[x], 3);
        }
    }
    free(line);
    DGifCloseFile(gif, &error);
    *out_rgb = rgb;
    return HS_CODEC_OK;

fail:
    error = gif->Error;
    DGifCloseFile(gif, NULL);
    return hs_gif_failure(&src, error, info);
}
