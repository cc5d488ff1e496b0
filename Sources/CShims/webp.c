// WebP (libwebp) decoding to 8-bit RGB as PIL 13 does for Keras load_img: WebPImagePlugin opens every WebP,
// still or animated, lossy or lossless, through libwebp's animation decoder in MODE_RGBA and shows the first
// frame; convert('RGB') then drops the alpha channel (it does not composite). The animation decoder draws the
// first frame on a canvas cleared to transparent black, so the canvas outside a smaller first frame is black.
// libwebp never prints. The canvas size is read from the container (WebPDemux) and checked against the pixel
// limit before the decoder allocates its canvas.
#include "codecs.h"
#include "codecs_private.h"

#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>

hs_codec_status hs_webp_decode_rgb(const uint8_t *data, size_t size, uint64_t pixel_limit,
                                   uint8_t **out_rgb, hs_codec_info *info) {
    memset(info, 0, sizeof *info);
    *out_rgb = NULL;
    WebPData bytes = {data, size};

    // The container first. The canvas size is known once its header is parsed (the VP8X chunk, or the first
    // image chunk of a simple file) and is checked then, even when the rest is missing; a RIFF size or chunk
    // that runs past the data leaves the demuxer short of DONE.
    WebPDemuxState state = WEBP_DEMUX_PARSE_ERROR;
    WebPDemuxer *demux = WebPDemuxPartial(&bytes, &state);
    if (demux && state >= WEBP_DEMUX_PARSED_HEADER) {
        const uint64_t width = WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
        const uint64_t height = WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
        info->components = (WebPDemuxGetI(demux, WEBP_FF_FORMAT_FLAGS) & ALPHA_FLAG) ? 4 : 3;
        hs_codec_status status = hs_check_size(width, height, pixel_limit, info);
        if (status != HS_CODEC_OK) {
            WebPDemuxDelete(demux);
            return status;
        }
    }
    if (!demux || state != WEBP_DEMUX_DONE) {
        const int truncated = state == WEBP_DEMUX_PARSING_HEADER || state == WEBP_DEMUX_PARSED_HEADER;
        WebPDemuxDelete(demux);
        hs_set_message(info, truncated ? "the RIFF container ends before its chunks do"
                                       : "the RIFF container cannot be parsed as WebP");
        return truncated ? HS_CODEC_TRUNCATED : HS_CODEC_CORRUPT;
    }
    const uint64_t width = (uint64_t)info->width, height = (uint64_t)info->height;
    WebPDemuxDelete(demux);

    WebPAnimDecoderOptions options;
    if (!WebPAnimDecoderOptionsInit(&options)) {
        hs_set_message(info, "libwebp version mismatch");
        return HS_CODEC_CORRUPT;
    }
    options.color_mode = MODE_RGBA;
    options.use_threads = 0;
    WebPAnimDecoder *decoder = WebPAnimDecoderNew(&bytes, &options);
    if (!decoder) {
        hs_set_message(info, "libwebp cannot decode the file's frames");
        return HS_CODEC_CORRUPT;
    }
    uint8_t *canvas = NULL;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(decoder, &canvas, &timestamp) || !canvas) {
        WebPAnimDecoderDelete(decoder);
        hs_set_message(info, "libwebp cannot decode the first frame (its bitstream is corrupt or cut short)");
        return HS_CODEC_CORRUPT;
    }
    const size_t pixels = (size_t)(width * height);
    uint8_t *rgb = (uint8_t *)malloc(pixels * 3);
    if (!rgb) {
        WebPAnimDecoderDelete(decoder);
        return HS_CODEC_NO_MEMORY;
    }
    for (size_t i = 0; i < pixels; i++) memcpy(rgb + 3 * i, canvas + 4 * i, 3);
    WebPAnimDecoderDelete(decoder);
    *out_rgb = rgb;
    return HS_CODEC_OK;
}
