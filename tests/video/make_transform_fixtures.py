"""Writes tests/video/fixtures/transforms.{json,bin.gz}: cv2.resize (INTER_LINEAR) and Pillow/torchvision
colour-op outputs on small deterministic images, so transforms_test.ts can compare bit for bit.

Run with a Python that has cv2, PIL and numpy (e.g. Debian's python3-opencv python3-pil):
    /usr/bin/python3 tests/video/make_transform_fixtures.py
"""
import gzip
import json
import os

import cv2
import numpy as np
from PIL import Image, ImageEnhance

here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(here, "fixtures")
os.makedirs(out_dir, exist_ok=True)

rs = np.random.RandomState(0)
noise = rs.randint(0, 256, size=(30, 40, 3), dtype=np.uint8)
yy, xx = np.mgrid[0:60, 0:80]
smooth = np.stack([
    127.5 + 127.5 * np.sin(xx / 7.0 + yy / 11.0) * np.cos(yy / 5.0),
    127.5 + 127.5 * np.sin(xx / 8.0 + yy / 11.0) * np.cos(yy / 6.0),
    127.5 + 127.5 * np.sin(xx / 9.0 + yy / 11.0) * np.cos(yy / 7.0),
], axis=-1).round().astype(np.uint8)
images = {"noise": noise, "smooth": smooth}

blob = bytearray()
index = {"opencv": cv2.__version__, "pillow": Image.__version__, "images": {}, "resize": [], "color": []}


def put(arr):
    off = len(blob)
    blob.extend(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
    return [off, arr.size]


for name, img in images.items():
    index["images"][name] = {"width": img.shape[1], "height": img.shape[0], "at": put(img)}

resizes = [
    # row lengths (3·w) that are and are not multiples of 16, up- and downscales, copy, exact 2x (INTER_AREA)
    ("noise", 25, 19), ("noise", 63, 48), ("noise", 20, 15), ("noise", 40, 30), ("noise", 57, 30),
    ("noise", 13, 8), ("noise", 80, 60), ("noise", 41, 31), ("noise", 48, 48), ("noise", 3, 2),
    ("smooth", 85, 64), ("smooth", 56, 56), ("smooth", 40, 30), ("smooth", 100, 75), ("smooth", 75, 56),
]
for name, w, h in resizes:
    r = cv2.resize(images[name], (w, h), interpolation=cv2.INTER_LINEAR)
    index["resize"].append({"src": name, "width": w, "height": h, "at": put(r)})

pil = Image.fromarray(noise, "RGB")


def hue(img, f):
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore"):
        np_h += np.array(f * 255).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(np_h, "L"), s, v)).convert("RGB")


ops = [
    ("brightness", 0.6), ("brightness", 1.37), ("contrast", 0.61), ("contrast", 1.33),
    ("saturation", 0.83), ("saturation", 1.19), ("hue", 0.0), ("hue", 0.1), ("hue", -0.1), ("hue", -0.033),
    ("gray", 0),
]
for op, f in ops:
    if op == "brightness":
        r = ImageEnhance.Brightness(pil).enhance(f)
    elif op == "contrast":
        r = ImageEnhance.Contrast(pil).enhance(f)
    elif op == "saturation":
        r = ImageEnhance.Color(pil).enhance(f)
    elif op == "hue":
        r = hue(pil, f)
    else:
        r = pil.convert("L").convert("RGB")
    index["color"].append({"op": op, "factor": f, "at": put(np.asarray(r))})

# mmcv.imnormalize_ as mmaction's Normalize calls it, on every byte value
ramp = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1).reshape(16, 16, 3).copy()
mean = np.float64(np.array([123.675, 116.28, 103.53]).reshape(1, -1))
stdinv = 1 / np.float64(np.array([58.395, 57.12, 57.375]).reshape(1, -1))
cv2.subtract(ramp, mean, ramp)
cv2.multiply(ramp, stdinv, ramp)
off = len(blob)
blob.extend(ramp.astype("<f4").tobytes())
index["normalize"] = [off, 256 * 3 * 4]

with gzip.GzipFile(os.path.join(out_dir, "transforms.bin.gz"), "wb", mtime=0) as fh:
    fh.write(bytes(blob))
with open(os.path.join(out_dir, "transforms.json"), "w") as fh:
    json.dump(index, fh, indent=1)
print(f"wrote {len(blob)} bytes; opencv {cv2.__version__}, pillow {Image.__version__}")
