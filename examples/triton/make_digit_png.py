#!/usr/bin/python3
"""Writes digit.png: the first of scikit-learn's bundled 8x8 digits (a 0),
each pixel a 28x28 block, as a 224x224 RGB PNG (the size ResNet-50 takes).
The README's Triton commands explain it; it needs only numpy and sklearn.

    /usr/bin/python3 examples/triton/make_digit_png.py examples/triton/digit.png
"""

import struct
import sys
import zlib

import numpy as np
from sklearn.datasets import load_digits


def png(rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter 0 per row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


digit = load_digits().images[0] * (255 / 16)  # 0..16 -> 0..255
gray = np.kron(digit, np.ones((28, 28))).round().astype(np.uint8)
with open(sys.argv[1], "wb") as f:
    f.write(png(np.repeat(gray[:, :, None], 3, axis=2)))
