#!/usr/bin/env python3
"""Image decoding / resizing / preprocessing fixtures for headstart's Extract tests.

Every expectation here comes from the reference stack itself: Keras `load_img` (which decodes with PIL,
`convert('RGB')` and `resize((w, h), resample)`), numpy, and Keras preprocessing. The input files are small
synthetic images written by PIL (or by the tiny PNG/BMP/PPM writers below, for layouts PIL cannot write:
16-bit RGB, Adam7 interlace, top-down BMP, PPM with a comment), one real Horses-or-Humans photo re-encoded as a
~100x100 JPEG and one real RGBA PNG crop.

Output (Tests/Fixtures/images/):
  inputs/<name>              the image files (extensions may lie on purpose)
  expected/<name>.*.npy      uint8 HWC arrays: decoded, and resized to the small targets
  expected.json              the manifest the Swift tests read (shapes, hashes, versions)
  preprocess_*.npy           Keras preprocessing of every byte value 0...255 (float32)
  bad/<name>                 inputs every decoder must refuse with a specific error
  features/<name>.mixed7.npy Keras mixed7 of the TIFF, GIF and WebP photos (FEATURE_IMAGES) as the book feeds
                             them (load_img to 150x150 nearest, x/255), on the seeded weights the parity tests
                             use: seed 7's kernels (seeded_weights.py) with Tests/Fixtures/keras/bn-params.npy

Run:  /work/venv/bin/python Tools/keras-reference/make_image_fixtures.py   (about a minute: the mixed7 step
      builds InceptionV3 once)
"""
import hashlib
import io
import json
import os
import re
import shutil
import struct
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import PIL
from PIL import Image
import keras
from keras.utils import load_img, img_to_array
from keras.applications.inception_v3 import preprocess_input
from keras.src.legacy.preprocessing.image import ImageDataGenerator

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "images")
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "horse-or-human"))

# Resize targets as (height, width). Small ones are stored as full arrays (readable diffs on failure);
# the others (a mixed up/down ratio and the network's 150x150 input size) are stored as a SHA-256 of the bytes to keep fixtures small.
FULL_TARGETS = [(31, 17)]
HASH_TARGETS = [(19, 53), (150, 150)]
METHODS = ["nearest", "bilinear"]
# Inputs whose Keras mixed7 features are fixtures too (the formats the JPEG/PNG parity fixtures in
# Tests/Fixtures/keras do not cover).
FEATURE_IMAGES = ["horse_photo.tif", "human_photo.gif", "horse_photo.webp"]


# ----------------------------------------------------------------------------------------------- writers
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, samples, bit_depth, color_type, interlace=False, plte=None, trns=None):
    """samples: (H, W, C) array of integer samples (C = channels of the color type)."""
    h, w = samples.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"

    def rows_bytes(img):
        out = b""
        for row in img:
            if bit_depth < 8:
                flat = row.reshape(-1).astype(np.uint8)
                per = 8 // bit_depth
                pad = (-len(flat)) % per
                flat = np.concatenate([flat, np.zeros(pad, np.uint8)]).reshape(-1, per)
                packed = np.zeros(len(flat), np.uint8)
                for i in range(per):
                    packed |= flat[:, i] << (8 - bit_depth * (i + 1))
                out += b"\x00" + packed.tobytes()
            else:
                out += b"\x00" + row.astype(dtype).tobytes()
        return out

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += rows_bytes(sub)
    else:
        raw = rows_bytes(samples)
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if plte is not None:
        data += png_chunk(b"PLTE", bytes(plte))
    if trns is not None:
        data += png_chunk(b"tRNS", bytes(trns))
    data += png_chunk(b"IDAT", zlib.compress(raw, 9))
    data += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def write_bmp32_topdown(path, rgba):
    """BITMAPINFOHEADER, BI_RGB, 32 bits, negative height (rows stored top to bottom), BGRX order."""
    h, w = rgba.shape[:2]
    pixels = rgba[:, :, [2, 1, 0, 3]].astype(np.uint8).tobytes()
    header = struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 32, 0, len(pixels), 2835, 2835, 0, 0)
    file_header = b"BM" + struct.pack("<IHHI", 14 + 40 + len(pixels), 0, 0, 14 + 40)
    with open(path, "wb") as f:
        f.write(file_header + header + pixels)


def write_tiff(path, samples, bits, photometric, extra=(), big_endian=False, tile=None, colormap=None):
    """A one-directory uncompressed TIFF of (H, W, S) integer samples, for layouts PIL cannot write (16-bit RGB
    and CMYK, associated alpha, MinIsWhite, tiles). Rows (or tiles) of samples packed most significant bit
    first; 16-bit samples in the file's byte order; tiles padded with zeros past the image's edges."""
    h, w, spp = samples.shape
    e = ">" if big_endian else "<"

    def pack_rows(block):
        out = b""
        for row in block:
            flat = row.reshape(-1)
            if bits == 16:
                out += flat.astype(e + "u2").tobytes()
            elif bits == 8:
                out += flat.astype(np.uint8).tobytes()
            else:
                per = 8 // bits
                flat = np.concatenate([flat, np.zeros((-len(flat)) % per, flat.dtype)]).reshape(-1, per).astype(np.uint8)
                packed = np.zeros(len(flat), np.uint8)
                for i in range(per):
                    packed |= flat[:, i] << (8 - bits * (i + 1))
                out += packed.tobytes()
        return out

    if tile:
        tw, th = tile
        pieces = []
        for ty in range(0, h, th):
            for tx in range(0, w, tw):
                block = np.zeros((th, tw, spp), samples.dtype)
                part = samples[ty:ty + th, tx:tx + tw]
                block[:part.shape[0], :part.shape[1]] = part
                pieces.append(pack_rows(block))
    else:
        pieces = [pack_rows(samples)]
    data = b"".join(pieces)
    offsets, at = [], 8
    for piece in pieces:
        offsets.append(at)
        at += len(piece)
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [bits] * spp), (259, 3, [1]), (262, 3, [photometric]),
            (277, 3, [spp]), (284, 3, [1])]
    if tile:
        tags += [(322, 4, [tile[0]]), (323, 4, [tile[1]]), (324, 4, offsets), (325, 4, [len(x) for x in pieces])]
    else:
        tags += [(273, 4, offsets), (278, 4, [h]), (279, 4, [len(data)])]
    if colormap is not None:
        tags.append((320, 3, list(colormap)))
    if extra:
        tags.append((338, 3, list(extra)))
    tags.sort()
    ifd_at = 8 + len(data)
    ifd_at += ifd_at & 1
    after = ifd_at + 2 + 12 * len(tags) + 4
    entries, values = b"", b""
    for tag, kind, vals in tags:
        fmt = {3: "H", 4: "I"}[kind]
        payload = struct.pack(e + fmt * len(vals), *vals)
        if len(payload) <= 4:
            entries += struct.pack(e + "HHI", tag, kind, len(vals)) + payload.ljust(4, b"\0")
        else:
            entries += struct.pack(e + "HHII", tag, kind, len(vals), after + len(values))
            values += payload + (b"\0" if len(payload) & 1 else b"")
    header = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", ifd_at)
    with open(path, "wb") as f:
        f.write(header + data + b"\0" * (ifd_at - 8 - len(data)) + struct.pack(e + "H", len(tags)) + entries
                + struct.pack(e + "I", 0) + values)


def gif_lzw(indices, min_code_size):
    """LZW data for a GIF frame without compression: every index a literal code of min_code_size + 1 bits,
    with a clear code often enough that the code width never grows. Sub-blocks of at most 255 bytes."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width, run = min_code_size + 1, (1 << min_code_size) - 3
    codes = []
    for i, v in enumerate(indices):
        if i % run == 0:
            codes.append(clear)
        codes.append(int(v))
    codes.append(end)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255]) for i in range(0, len(out), 255))
    return bytes([min_code_size]) + blocks + b"\0"


def gif_table(palette):
    """A colour table's size field and bytes: padded with black to a power of two entries (at least 2)."""
    palette = bytes(int(v) for v in palette)
    n = max(len(palette) // 3, 2)
    size = max((n - 1).bit_length(), 1)
    return size - 1, palette + b"\0" * (3 * (1 << size) - len(palette))


def write_gif(path, screen, frames, global_palette=None, min_code_size=8, background=0):
    """A GIF89a with a logical screen of screen = (w, h) and frames of dicts: indices (h, w), left, top, and
    optionally palette (a local table), interlace, transparency (a graphic control extension)."""
    out = b"GIF89a" + struct.pack("<HH", *screen)
    if global_palette is not None:
        size, table = gif_table(global_palette)
        out += bytes([0x80 | size, background, 0]) + table
    else:
        out += bytes([0, background, 0])
    for fr in frames:
        if "transparency" in fr:
            out += b"\x21\xf9\x04" + bytes([1]) + struct.pack("<H", 10) + bytes([fr["transparency"], 0])
        idx = fr["indices"]
        fh, fw = idx.shape
        flags = 0x40 if fr.get("interlace") else 0
        local = b""
        if fr.get("palette") is not None:
            size, local = gif_table(fr["palette"])
            flags |= 0x80 | size
        out += b"," + struct.pack("<HHHH", fr.get("left", 0), fr.get("top", 0), fw, fh) + bytes([flags]) + local
        rows = list(range(fh))
        if fr.get("interlace"):
            rows = list(range(0, fh, 8)) + list(range(4, fh, 8)) + list(range(2, fh, 4)) + list(range(1, fh, 2))
        out += gif_lzw(np.concatenate([idx[r] for r in rows]), min_code_size)
    with open(path, "wb") as f:
        f.write(out + b";")


# ----------------------------------------------------------------------------------------------- images
rng = np.random.RandomState(20240601)


def synthetic_rgb(h, w):
    """Smooth gradients plus noise: edges for resampling, noise so every pixel matters."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 120 * np.sin(x / w * 6.3)
    g = 255 * y / max(h - 1, 1)
    b = 127 + 120 * np.cos((x + y) / (w + h) * 9.0)
    img = np.stack([r, g, b], -1) + rng.randint(-25, 26, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_inputs(d):
    files = {}  # name -> short description

    def add(name, desc):
        files[name] = desc
        return os.path.join(d, name)

    rgb = synthetic_rgb(23, 37)
    Image.fromarray(rgb).save(add("rgb.jpg", "JPEG, YCbCr 4:2:0, 37x23"), quality=90)
    Image.fromarray(synthetic_rgb(41, 29)).save(add("rgb444.jpg", "JPEG, YCbCr 4:4:4, 29x41"), quality=95, subsampling=0)
    Image.fromarray(synthetic_rgb(30, 44)[:, :, 1]).save(add("gray.jpg", "JPEG, grayscale, 44x30"), quality=85)
    cmyk = np.concatenate([synthetic_rgb(26, 33), rng.randint(0, 256, size=(26, 33, 1)).astype(np.uint8)], -1)
    Image.fromarray(cmyk, "CMYK").save(add("cmyk.jpg", "JPEG, CMYK (Adobe marker, inverted), 33x26"), quality=92)
    Image.fromarray(synthetic_rgb(28, 40)).save(add("progressive.jpg", "JPEG, progressive, 40x28"), quality=80, progressive=True)
    # A JPEG with junk between two header segments (just before SOS): libjpeg warns ("Corrupt JPEG data: 3
    # extraneous bytes before marker 0xda") and PIL still decodes it. (Junk just before EOI would be swallowed
    # by the entropy decoder's read-ahead without any warning.)
    buf = io.BytesIO()
    Image.fromarray(synthetic_rgb(24, 32)).save(buf, "JPEG", quality=90)
    raw = buf.getvalue()
    sos = raw.index(b"\xff\xda")
    with open(add("warning.jpg", "JPEG with 3 junk bytes before SOS (libjpeg warning, PIL decodes)"), "wb") as f:
        f.write(raw[:sos] + b"\x01\x02\x03" + raw[sos:])

    Image.fromarray(synthetic_rgb(29, 41)[:, :, 0]).save(add("gray.png", "PNG gray 8-bit, 41x29"))
    la = np.stack([synthetic_rgb(27, 35)[:, :, 2], rng.randint(0, 256, size=(27, 35)).astype(np.uint8)], -1)
    Image.fromarray(la, "LA").save(add("gray_alpha.png", "PNG gray+alpha 8-bit, 35x27"))
    pal_idx = rng.randint(0, 12, size=(25, 39)).astype(np.uint8)
    palette = rng.randint(0, 256, size=12 * 3).astype(np.uint8)
    write_png(add("palette_trns.png", "PNG palette 8-bit with tRNS, 39x25"), pal_idx[:, :, None], 8, 3,
              plte=palette, trns=bytes(rng.randint(0, 256, size=7).astype(np.uint8)))
    write_png(add("palette4.png", "PNG palette 4-bit, 37x23"), rng.randint(0, 16, size=(23, 37, 1)), 4, 3,
              plte=rng.randint(0, 256, size=16 * 3).astype(np.uint8))
    write_png(add("gray1.png", "PNG gray 1-bit, 45x21"), rng.randint(0, 2, size=(21, 45, 1)), 1, 0)
    write_png(add("gray2.png", "PNG gray 2-bit, 38x22"), rng.randint(0, 4, size=(22, 38, 1)), 2, 0)
    write_png(add("gray_trns.png", "PNG gray 8-bit with tRNS, 30x20"), synthetic_rgb(20, 30)[:, :, :1], 8, 0,
              trns=struct.pack(">H", 128))
    Image.fromarray(synthetic_rgb(31, 43)).save(add("rgb.png", "PNG RGB 8-bit, 43x31"))
    rgba = np.concatenate([synthetic_rgb(33, 47), rng.randint(0, 256, size=(33, 47, 1)).astype(np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(add("rgba.png", "PNG RGBA 8-bit, varied alpha (dropped, not composited), 47x33"))
    g16 = rng.randint(0, 1024, size=(24, 36, 1)).astype(np.uint16)
    g16[0, :6, 0] = [0, 1, 255, 256, 1000, 65535][:6]
    write_png(add("gray16.png", "PNG gray 16-bit (PIL clips to 255), 36x24"), g16, 16, 0)
    write_png(add("rgb16.png", "PNG RGB 16-bit, 34x26"), rng.randint(0, 65536, size=(26, 34, 3)), 16, 2)
    write_png(add("rgba16.png", "PNG RGBA 16-bit, 31x27"), rng.randint(0, 65536, size=(27, 31, 4)), 16, 6)
    write_png(add("gray_alpha16.png", "PNG gray+alpha 16-bit, 29x23"), rng.randint(0, 65536, size=(23, 29, 2)), 16, 4)
    write_png(add("interlaced.png", "PNG RGB 8-bit Adam7 interlaced, 42x35"), synthetic_rgb(35, 42), 8, 2, interlace=True)
    write_png(add("interlaced_palette.png", "PNG palette 8-bit Adam7 interlaced with tRNS, 27x19"),
              rng.randint(0, 20, size=(19, 27, 1)), 8, 3, interlace=True,
              plte=rng.randint(0, 256, size=20 * 3).astype(np.uint8), trns=b"\x00\x80")
    # A PNG whose name says JPEG: the decoder must go by the bytes.
    Image.fromarray(synthetic_rgb(22, 32)).save(add("png_named.jpg", "PNG RGB named .jpg, 32x22"), "PNG")

    Image.fromarray(synthetic_rgb(21, 39)).save(add("rgb24.bmp", "BMP 24-bit bottom-up, 39x21 (row padding)"))
    Image.fromarray(rng.randint(0, 256, size=(23, 37, 4)).astype(np.uint8), "RGBA").save(
        add("rgba32.bmp", "BMP 32-bit BI_RGB bottom-up (4th byte ignored), 37x23"))
    write_bmp32_topdown(add("topdown32.bmp", "BMP 32-bit BI_RGB top-down, 26x18"),
                        rng.randint(0, 256, size=(18, 26, 4)))
    p = Image.fromarray(rng.randint(0, 30, size=(24, 35)).astype(np.uint8), "P")
    p.putpalette(list(rng.randint(0, 256, size=30 * 3)))
    p.save(add("palette8.bmp", "BMP 8-bit palette, 35x24"))
    Image.fromarray(synthetic_rgb(20, 33)[:, :, 1]).save(add("gray8.bmp", "BMP 8-bit grayscale palette, 33x20"))

    Image.fromarray(synthetic_rgb(25, 38)).save(add("rgb.ppm", "PPM P6 maxval 255, 38x25"))
    Image.fromarray(synthetic_rgb(19, 27)[:, :, 0]).save(add("gray.pgm", "PGM P5 maxval 255, 27x19"))
    body = synthetic_rgb(17, 23)
    with open(add("comment.ppm", "PPM P6 with a header comment, 23x17"), "wb") as f:
        f.write(b"P6\n# written by make_image_fixtures.py\n23 17\n255\n" + body.tobytes())

    # TIFF: PIL-written layouts (libtiff's codecs: deflate, LZW, PackBits, CCITT group 4, JPEG) and hand-written
    # ones for what PIL cannot write.
    Image.fromarray(synthetic_rgb(23, 37)).save(add("rgb.tif", "TIFF RGB 8-bit, deflate, 37x23"), compression="tiff_adobe_deflate")
    Image.fromarray(synthetic_rgb(26, 31)).save(add("rgb_raw.tiff", "TIFF RGB 8-bit, uncompressed, 31x26"))
    Image.fromarray(synthetic_rgb(22, 35)).save(add("rgb_lzw.tif", "TIFF RGB 8-bit, LZW, 35x22"), compression="tiff_lzw")
    Image.fromarray(synthetic_rgb(25, 33)).save(add("rgb_jpeg.tif", "TIFF RGB, JPEG-compressed, 33x25"),
                                                compression="jpeg", quality=90)
    Image.fromarray(synthetic_rgb(27, 34)).convert("YCbCr").save(
        add("ycbcr_jpeg.tif", "TIFF YCbCr, JPEG-compressed (libjpeg converts to RGB, as PIL has libtiff do), 34x27"),
        compression="jpeg", quality=90)
    Image.fromarray(np.concatenate([synthetic_rgb(24, 36), rng.randint(0, 256, size=(24, 36, 1)).astype(np.uint8)], -1),
                    "RGBA").save(add("rgba.tif", "TIFF RGBA 8-bit, unassociated alpha (dropped), PackBits, 36x24"),
                                 compression="packbits")
    Image.fromarray(synthetic_rgb(27, 29)[:, :, 1]).save(add("gray.tif", "TIFF gray 8-bit, deflate, 29x27"),
                                                         compression="tiff_adobe_deflate")
    g16 = rng.randint(0, 1024, size=(21, 34)).astype(np.uint16)
    g16[0, :6] = [0, 1, 255, 256, 1000, 65535]
    Image.fromarray(g16).save(add("gray16.tif", "TIFF gray 16-bit (PIL clips to 255), 34x21"))
    Image.fromarray(rng.randint(0, 2, size=(30, 45)).astype(bool)).save(
        add("bilevel_g4.tif", "TIFF bilevel 1-bit, CCITT group 4, 45x30"), compression="group4")
    p = Image.fromarray(rng.randint(0, 40, size=(23, 31)).astype(np.uint8), "P")
    p.putpalette(list(rng.randint(0, 256, size=40 * 3)))
    p.save(add("palette.tif", "TIFF palette 8-bit, 31x23"))
    Image.fromarray(np.concatenate([synthetic_rgb(25, 30), rng.randint(0, 256, size=(25, 30, 1)).astype(np.uint8)], -1),
                    "CMYK").save(add("cmyk.tif", "TIFF CMYK 8-bit (PIL's naive conversion), 30x25"))
    write_tiff(add("rgb16_be.tif", "TIFF RGB 16-bit big-endian (high bytes), 27x19"),
               rng.randint(0, 65536, size=(19, 27, 3)), 16, 2, big_endian=True)
    write_tiff(add("cmyk16.tif", "TIFF CMYK 16-bit (high bytes), 23x17"), rng.randint(0, 65536, size=(17, 23, 4)), 16, 5)
    assoc = rng.randint(0, 256, size=(18, 26, 4))
    assoc[0, :4, 3] = [0, 255, 1, 128]
    write_tiff(add("rgba_associated.tif", "TIFF RGBA 8-bit, associated alpha (PIL un-premultiplies), 26x18"),
               assoc, 8, 2, extra=(1,))
    write_tiff(add("miniswhite.tif", "TIFF gray 8-bit MinIsWhite (inverted), 28x20"), rng.randint(0, 256, size=(20, 28, 1)), 8, 0)
    write_tiff(add("gray4.tif", "TIFF gray 4-bit MinIsBlack, 27x15"), rng.randint(0, 16, size=(15, 27, 1)), 4, 1)
    write_tiff(add("palette4.tif", "TIFF palette 4-bit, 16-bit colour map, 25x14"), rng.randint(0, 16, size=(14, 25, 1)), 4, 3,
               colormap=rng.randint(0, 65536, size=3 * 16))
    write_tiff(add("tiled.tif", "TIFF RGB 8-bit in 16x16 tiles (partial at the edges), 37x23"), synthetic_rgb(23, 37),
               8, 2, tile=(16, 16))
    Image.fromarray(synthetic_rgb(21, 32)).save(add("multipage.tif", "TIFF with two pages (the first is read), 32x21"),
                                                save_all=True, append_images=[Image.fromarray(synthetic_rgb(21, 32)[::-1])])

    # GIF: PIL-written (global palette, interlaced as PIL writes images 16 pixels and taller) and hand-written
    # frames: local palettes, a first frame smaller than the screen or reaching past it, transparency, no palette.
    pal = rng.randint(0, 256, size=64 * 3).astype(np.uint8)
    p = Image.fromarray(rng.randint(0, 64, size=(27, 38)).astype(np.uint8), "P")
    p.putpalette(list(pal))
    p.save(add("palette.gif", "GIF, global palette, PIL-written (interlaced), 38x27"))
    p.save(add("transparent.gif", "GIF with a transparent index (dropped, not composited), 38x27"), transparency=5)
    frames = [Image.fromarray(synthetic_rgb(24, 33)).quantize(64), Image.fromarray(synthetic_rgb(24, 33)[::-1]).quantize(64)]
    frames[0].save(add("animated.gif", "GIF, two frames (the first is read), 33x24"), save_all=True,
                   append_images=frames[1:], duration=100)
    write_gif(add("interlaced.gif", "GIF interlaced, hand-written, 29x22"), (29, 22),
              [{"indices": rng.randint(0, 16, size=(22, 29)), "interlace": True}], global_palette=rng.randint(0, 256, size=48))
    write_gif(add("local_palette.gif", "GIF: a first frame with its own palette and a transparent index, smaller "
                                       "than the screen (the rest is the transparent index's colour), 34x26"),
              (34, 26), [{"indices": rng.randint(0, 8, size=(15, 20)), "left": 5, "top": 7,
                          "palette": rng.randint(0, 256, size=24), "transparency": 3}],
              global_palette=rng.randint(0, 256, size=48), min_code_size=3)
    write_gif(add("frame_outside.gif", "GIF: a first frame reaching past its 20x12 screen (the image grows), "
                                       "no transparency (the rest is index 0), 30x21"),
              (20, 12), [{"indices": rng.randint(0, 16, size=(15, 22)), "left": 8, "top": 6}],
              global_palette=rng.randint(0, 256, size=48), min_code_size=4)
    write_gif(add("no_palette.gif", "GIF without a colour table (index i is gray i), 24x18"), (24, 18),
              [{"indices": rng.randint(0, 256, size=(18, 24))}])
    write_gif(add("short_palette.gif", "GIF whose indices run past its 4-colour table (those are black), 21x13"),
              (21, 13), [{"indices": rng.randint(0, 8, size=(13, 21))}], global_palette=rng.randint(0, 256, size=12),
              min_code_size=3)

    # WebP: lossy and lossless, with and without alpha (dropped, not composited), animated (first frame).
    Image.fromarray(synthetic_rgb(26, 38)).save(add("lossy.webp", "WebP lossy, 38x26"), quality=80)
    Image.fromarray(synthetic_rgb(23, 31)).save(add("lossless.webp", "WebP lossless, 31x23"), lossless=True)
    alpha = rng.randint(0, 256, size=(24, 34, 1)).astype(np.uint8)
    alpha[0, :3, 0] = [0, 255, 128]
    Image.fromarray(np.concatenate([synthetic_rgb(24, 34), alpha], -1), "RGBA").save(
        add("lossy_alpha.webp", "WebP lossy with alpha, 34x24"), quality=85)
    Image.fromarray(np.concatenate([synthetic_rgb(22, 30), rng.randint(0, 256, size=(22, 30, 1)).astype(np.uint8)], -1),
                    "RGBA").save(add("lossless_alpha.webp", "WebP lossless with alpha (colours under alpha 0 kept), 30x22"),
                                 lossless=True, exact=True)
    frames = [Image.fromarray(synthetic_rgb(20, 28)), Image.fromarray(synthetic_rgb(20, 28)[::-1])]
    frames[0].save(add("animated.webp", "WebP, two frames (the first is read), 28x20"), save_all=True,
                   append_images=frames[1:], duration=100, quality=80)

    # Real Horses-or-Humans material (CC BY 2.0, Laurence Moroney): a photo as a small JPEG, an RGBA PNG crop.
    horse = os.path.join(SHARED, "train", "horses", "horse01-0.png")
    human = os.path.join(SHARED, "train", "humans", "human01-00.png")
    Image.open(horse).convert("RGB").resize((100, 100), Image.BILINEAR).save(
        add("horse_photo.jpg", "real photo (horse01-0.png) re-encoded as 100x100 JPEG q85"), quality=85)
    Image.open(human).crop((110, 60, 158, 108)).save(add("human_crop.png", "real RGBA PNG crop (human01-00.png), 48x48"))
    # The same kind of material in the three formats whose mixed7 features are fixtures too (FEATURE_IMAGES).
    horse_image = Image.open(os.path.join(SHARED, "train", "horses", "horse05-3.png"))
    horse_image.convert("RGB").resize((120, 120), Image.BILINEAR).save(
        add("horse_photo.tif", "real photo (horse05-3.png) as 120x120 RGB TIFF, LZW"), compression="tiff_lzw")
    Image.open(os.path.join(SHARED, "train", "humans", "human03-07.png")).convert("RGB").resize((110, 110), Image.BILINEAR).quantize(
        256).save(add("human_photo.gif", "real photo (human03-07.png) as 110x110 GIF, 256 colours"))
    Image.open(os.path.join(SHARED, "validation", "horses", "horse1-000.png")).resize((130, 130), Image.BILINEAR).save(
        add("horse_photo.webp", "real RGBA photo (validation horse1-000.png) as 130x130 lossy WebP with alpha"), quality=85)
    return files


def make_bad(d):
    bad = {}
    os.makedirs(d, exist_ok=True)

    def add(name, kind, detail):
        bad[name] = {"kind": kind, "detail": detail}
        return os.path.join(d, name)

    open(add("empty.jpg", "empty", ""), "wb").close()
    buf = io.BytesIO()
    Image.fromarray(synthetic_rgb(40, 50)).save(buf, "JPEG", quality=90)
    jpg = buf.getvalue()
    with open(add("truncated.jpg", "truncated", ""), "wb") as f:
        f.write(jpg[: len(jpg) // 2])
    with open(add("no_eoi.jpg", "truncated", ""), "wb") as f:
        f.write(jpg[:-2])
    buf = io.BytesIO()
    Image.fromarray(synthetic_rgb(40, 50)).save(buf, "PNG")
    png = buf.getvalue()
    with open(add("truncated.png", "truncated", ""), "wb") as f:
        f.write(png[: len(png) // 2])
    # TIFF, GIF and WebP cut in half, and each with its data damaged where the library checks it.
    def encoded(fmt, **options):
        buf = io.BytesIO()
        Image.fromarray(synthetic_rgb(40, 50)).save(buf, fmt, **options)
        return buf.getvalue()

    tif = encoded("TIFF", compression="tiff_adobe_deflate")
    gif = encoded("GIF")
    webp = encoded("WEBP", quality=80)
    for name, data in [("truncated.tif", tif), ("truncated.gif", gif), ("truncated.webp", webp)]:
        with open(add(name, "truncated", ""), "wb") as f:
            f.write(data[: len(data) // 2])
    # Deflate data that zlib refuses: the strip's first bytes overwritten (the zlib header among them).
    strip = struct.unpack("<I", tif[tif.index(struct.pack("<HHI", 273, 4, 1)) + 8:][:4])[0]
    with open(add("corrupt.tif", "corrupt", ""), "wb") as f:
        f.write(tif[:strip] + b"\xff" * 16 + tif[strip + 16:])
    # The screen descriptor and global colour table, then straight to the trailer: a GIF without any image.
    screen = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    with open(add("no_image.gif", "corrupt", ""), "wb") as f:
        f.write(gif[:screen] + b";")
    # A VP8 key frame whose start code (9d 01 2a) is broken.
    start = webp.index(b"\x9d\x01\x2a")
    with open(add("corrupt.webp", "corrupt", ""), "wb") as f:
        f.write(webp[:start] + b"\x00\x00\x00" + webp[start + 3:])
    # A TIFF layout PIL reads and headstart does not: 32-bit float samples.
    Image.fromarray(synthetic_rgb(8, 8)[:, :, 0].astype(np.float32) / 255, "F").save(add("float.tif", "unsupported", "TIFF float"))
    with open(add("garbage.jpg", "unsupported", "unrecognised"), "wb") as f:
        f.write(bytes(np.random.RandomState(7).randint(0, 256, size=300).astype(np.uint8)))
    # A JPEG whose entropy-coded data is overwritten by a bad marker: libjpeg gives up with an error.
    sos = jpg.index(b"\xff\xda")
    with open(add("corrupt_sof.jpg", "corrupt", ""), "wb") as f:
        # SOF0 precision byte set to 7: "Unsupported JPEG data precision 7"
        sof = jpg.index(b"\xff\xc0")
        f.write(jpg[: sof + 4] + b"\x07" + jpg[sof + 5 :])
    # Every bad file except the layouts headstart chooses not to read (float TIFF: PIL reads it) must also be
    # refused by PIL/Keras, the reference: check it here.
    for name in bad:
        if bad[name]["kind"] == "unsupported" and bad[name]["detail"] != "unrecognised":
            bad[name]["pil_error"] = "none: PIL reads this layout; headstart refuses it on purpose"
            continue
        try:
            img_to_array(load_img(os.path.join(d, name)))  # pixels are read lazily: force them
        except Exception as e:  # noqa: BLE001 - any refusal is what we want
            bad[name]["pil_error"] = re.sub(r" at 0x[0-9a-f]+", "", f"{type(e).__name__}: {e}")
        else:
            sys.exit(f"PIL unexpectedly decoded bad input {name}")
    return bad


README = """# Image fixtures

Generated by `Tools/keras-reference/make_image_fixtures.py` (Pillow {pillow}, Keras {keras}, numpy {numpy},
Python {python}); do not edit by hand. `expected.json` lists every input, what it exercises, and where its
expectations are.

- `inputs/`: small images in every supported layout: JPEG, PNG, TIFF, GIF, WebP, BMP, PPM/PGM (extensions may lie
  on purpose: `png_named.jpg` is a PNG).
- `expected/`: uint8 HWC arrays from Keras `load_img(path, color_mode='rgb', target_size=..., interpolation=...)`;
  the 150x150 targets are recorded as SHA-256 of the array bytes in `expected.json`.
- `bad/`: inputs that must be refused (each also refused by PIL; its message is in `expected.json`).
- `preprocess_*.npy`: Keras preprocessing (`ImageDataGenerator(rescale=1./255)`, InceptionV3 `preprocess_input`)
  of every byte value, float32.
- `features/<name>.mixed7.npy`: Keras mixed7 (float32, 7x7x768) of the TIFF, GIF and WebP photos through the
  book's input path (`load_img` to 150x150 nearest, x/255), on the seeded weights of `Tests/Fixtures/keras`.

`inputs/horse_photo.jpg` and `inputs/human_crop.png` are derived from the Horses or Humans dataset,
Laurence Moroney, CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/): `horse_photo.jpg` is
`train/horses/horse01-0.png` resized to 100x100 and re-encoded as JPEG; `human_crop.png` is a 48x48 crop of
`train/humans/human01-00.png`. `horse_photo.tif`, `human_photo.gif` and `horse_photo.webp` are
`train/horses/horse05-3.png`, `train/humans/human03-07.png` and `validation/horses/horse1-000.png`, resized and
re-encoded (see `make_inputs`).
"""


def make_features(inputs, out):
    """Keras mixed7 of FEATURE_IMAGES on the parity tests' seeded weights (no calibration needed: the
    calibrated BatchNorm parameters are the committed ones)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import seeded_weights as sw

    model = sw.build_model((150, 150, 3))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    for c, layer in enumerate(convs):
        layer.kernel.assign(sw.conv_kernel(sw.DEFAULT_SEED, c, tuple(layer.kernel.shape)))
    sw.apply_bn_parameters(model, np.load(os.path.join(ROOT, "Tests", "Fixtures", "keras", "bn-params.npy")))
    mixed7 = keras.Model(model.input, model.get_layer("mixed7").output)
    os.makedirs(out)
    written = {}
    for name in FEATURE_IMAGES:
        x = img_to_array(load_img(os.path.join(inputs, name), target_size=(150, 150)))
        x *= 1.0 / 255.0
        y = np.asarray(mixed7(x[None], training=False))[0].astype("<f4")
        np.save(os.path.join(out, f"{name}.mixed7.npy"), y)
        written[name] = {"npy": f"{name}.mixed7.npy", "shape": list(y.shape), "max": float(y.max())}
    return written


def npy_save(path, arr):
    np.save(path, np.ascontiguousarray(arr, dtype=np.uint8), allow_pickle=False)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    inputs = os.path.join(OUT, "inputs")
    expected = os.path.join(OUT, "expected")
    os.makedirs(inputs)
    os.makedirs(expected)
    files = make_inputs(inputs)
    bad = make_bad(os.path.join(OUT, "bad"))

    manifest = {
        "generator": "Tools/keras-reference/make_image_fixtures.py",
        "versions": {"pillow": PIL.__version__, "keras": keras.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
        "images": [],
        "bad": bad,
    }
    for name, desc in sorted(files.items()):
        path = os.path.join(inputs, name)
        with Image.open(path) as probe:
            pil_format, pil_mode = probe.format, probe.mode
        decoded = img_to_array(load_img(path, color_mode="rgb"), dtype="uint8")
        h, w = decoded.shape[:2]
        npy_save(os.path.join(expected, f"{name}.decoded.npy"), decoded)
        entry = {"file": name, "description": desc, "format": pil_format, "pil_mode": pil_mode,
                 "width": w, "height": h, "decoded": f"{name}.decoded.npy", "resized": []}
        for method in METHODS:
            for th, tw in FULL_TARGETS + HASH_TARGETS:
                arr = img_to_array(load_img(path, color_mode="rgb", target_size=(th, tw), interpolation=method),
                                   dtype="uint8")
                assert arr.shape == (th, tw, 3)
                r = {"method": method, "height": th, "width": tw,
                     "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}
                if (th, tw) in FULL_TARGETS:
                    r["npy"] = f"{name}.{method}.{th}x{tw}.npy"
                    npy_save(os.path.join(expected, r["npy"]), arr)
                entry["resized"].append(r)
        manifest["images"].append(entry)

    # Preprocessing of every byte value, exactly as Keras does it to a float32 image array.
    values = np.arange(256, dtype=np.float32).reshape(16, 16, 1)
    rescaled = ImageDataGenerator(rescale=1.0 / 255).standardize(values.copy()).reshape(256)
    inception = preprocess_input(values.copy()).reshape(256)
    assert rescaled.dtype == np.float32 and inception.dtype == np.float32
    np.save(os.path.join(OUT, "preprocess_rescale.npy"), rescaled)
    np.save(os.path.join(OUT, "preprocess_inception.npy"), inception)
    # A whole image through load_img -> img_to_array -> preprocess_input, NHWC batch of 1.
    x = img_to_array(load_img(os.path.join(inputs, "rgb.png"), target_size=(17, 31), interpolation="bilinear"))
    np.save(os.path.join(OUT, "preprocess_inception_rgb.png.17x31.npy"), preprocess_input(x[None].copy()))

    # The real horse-or-human file the Swift test reads from ../shared when present.
    real = os.path.join(SHARED, "validation", "horses", "horse1-000.png")
    if not os.path.exists(real):
        real = sorted(os.path.join(SHARED, "validation", "horses", f)
                      for f in os.listdir(os.path.join(SHARED, "validation", "horses")))[0]
    rel = os.path.relpath(real, SHARED)
    with open(real, "rb") as f:
        file_sha = hashlib.sha256(f.read()).hexdigest()
    shared = {"relative_path": rel, "file_sha256": file_sha,
              "decoded_sha256": hashlib.sha256(img_to_array(load_img(real), dtype="uint8").tobytes()).hexdigest()}
    for method in METHODS:
        arr = img_to_array(load_img(real, target_size=(150, 150), interpolation=method), dtype="uint8")
        shared[f"{method}_150x150_sha256"] = hashlib.sha256(arr.tobytes()).hexdigest()
    manifest["shared_image"] = shared
    manifest["features"] = make_features(inputs, os.path.join(OUT, "features"))

    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(README.format(**manifest["versions"]))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print(f"wrote {len(files)} images, {len(bad)} bad inputs, {total} bytes under {OUT}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print("usage: python make_image_fixtures.py   (no arguments: regenerates its fixtures)", file=sys.stderr)
        sys.exit(2)
    main()
