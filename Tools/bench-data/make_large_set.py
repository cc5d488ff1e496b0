#!/usr/bin/env python3
"""Writes a large image set for BENCHMARKS.md from the real Horses-or-Humans images: every image N times as JPEG,
each copy with a few pixels changed so that every file is distinct (its own content key and features).

    python make_large_set.py SOURCE_DIR OUT_DIR [--copies 20]

SOURCE_DIR has the layout train/<class>/*.png and validation/<class>/*.png (data/horse-or-human); OUT_DIR gets
the same layout with <name>-cNN.jpg files (quality 90). 1,283 images × 20 copies = 25,660 files. Needs Pillow.
"""
import argparse
import hashlib
import os

from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args()
    written = 0
    seen = set()
    for split in ("train", "validation"):
        for cls in sorted(os.listdir(os.path.join(args.source, split))):
            src = os.path.join(args.source, split, cls)
            dst = os.path.join(args.out, split, cls)
            os.makedirs(dst, exist_ok=True)
            for name in sorted(os.listdir(src)):
                image = Image.open(os.path.join(src, name)).convert("RGB")
                stem = os.path.splitext(name)[0]
                for c in range(args.copies):
                    copy = image.copy()
                    # Copy c inverts the 4×4 pixels at (4c, 0) in the top edge: the same picture, and a change
                    # JPEG's quantisation cannot round away, so every file has bytes (and features) of its own.
                    for x in range(4 * c, 4 * c + 4):
                        for y in range(4):
                            r, g, b = copy.getpixel((x, y))
                            copy.putpixel((x, y), (255 - r, 255 - g, 255 - b))
                    path = os.path.join(dst, f"{stem}-c{c:02d}.jpg")
                    copy.save(path, quality=90)
                    with open(path, "rb") as f:
                        digest = hashlib.sha256(f.read()).digest()
                    if digest in seen:
                        raise SystemExit(f"{path} has the bytes of an earlier file")
                    seen.add(digest)
                    written += 1
    print(f"wrote {written} distinct files under {args.out}")


if __name__ == "__main__":
    main()
