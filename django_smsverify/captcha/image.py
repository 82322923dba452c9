"""Drawing a captcha as a PNG with Pillow.

Meant to be easy for people and not trivially read by OCR: every character is
drawn in its own colour, rotated and sheared by its own angle, moved up or
down, and packed so neighbours touch; wavy lines in the text colours cross the
characters (so they cannot be filtered out by colour) and dots speckle the
background.

The font is the scalable one that ships inside Pillow (>= 10.1, built with
FreeType, which every Pillow wheel is): nothing to install, nothing to license
separately. ``smsverify.E204`` reports a Pillow without FreeType.

This module does not touch Django, so it can be timed on its own
(``benchmarks/captcha.py``).
"""

from __future__ import annotations

import functools
import io
import math
import random  # seeded drawing jitter, not secrets: the answer is an HMAC (challenge.py)

from PIL import Image, ImageDraw, ImageFont

# Share of the image height the glyphs take.
_FONT_RATIO = 0.78


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=512)
def _glyph(char: str, size: int, stroke: int) -> Image.Image:
    """The mask of one character, cropped to its ink."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(char, stroke_width=stroke)
    mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(mask).text(
        (1 - left, 1 - top), char, font=font, fill=255, stroke_width=stroke, stroke_fill=255
    )
    return mask


def render_png(text: str, width: int, height: int, *, scale: int = 1, seed: int) -> bytes:
    """Draw ``text`` on a ``width`` x ``height`` image (times ``scale``) and return PNG bytes.

    ``seed`` fixes every random choice of the drawing, so one seed always gives
    one picture, at any scale. It is not a secret: the text is what matters.
    """
    # Layout jitter, not secrets: the answer itself comes from an HMAC, and the
    # seed from a keyed HMAC of the challenge key. A private Random instance
    # keeps the global `random` state out of it.
    rng = random.Random(seed)  # noqa: S311 - drawing jitter only, see above
    w, h = width * scale, height * scale
    image = Image.new("RGB", (w, h), _light(rng))
    draw = ImageDraw.Draw(image)

    # Background speckle, drawn first so the characters stay on top. Every
    # random draw below is the same whatever the scale (floats, counts from the
    # 1x size), so the 2x picture is the 1x one, larger.
    dots = [(int(rng.random() * w), int(rng.random() * h)) for _ in range(width * height // 30)]
    if scale > 1:
        dots = [(x + dx, y + dy) for x, y in dots for dx in range(scale) for dy in range(scale)]
    draw.point(dots, fill=_mid(rng))

    colors = [_dark(rng) for _ in text]
    size = max(8, int(h * _FONT_RATIO))
    stroke = 1 if h >= 30 else 0
    pieces = [_warp(_glyph(char, size, stroke * scale), rng) for char in text]

    # Pack the characters edge to edge (a little overlap makes them harder to
    # cut apart) and centre the row; the margin keeps rotated corners inside.
    overlap = int(size * 0.12)
    row = sum(p.width for p in pieces) - overlap * (len(pieces) - 1)
    x = max(0, (w - row) // 2)
    for piece, color in zip(pieces, colors, strict=True):
        y_room = max(0, h - piece.height)
        y = int(y_room * rng.uniform(0.25, 0.75))
        image.paste(color, (x, y), piece)
        x += piece.width - overlap

    # Wavy lines across the text, in the text colours.
    for i in range(2):
        _wave(draw, rng, w, h, colors[i % len(colors)] if colors else (0, 0, 0), scale)

    out = io.BytesIO()
    # Level 1: these images are tiny and never cached; speed beats bytes here.
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _warp(mask: Image.Image, rng: random.Random) -> Image.Image:
    """Rotate and shear one character by its own random amount."""
    angle = math.radians(rng.uniform(-18, 18))
    shear = rng.uniform(-0.2, 0.2)
    cos, sin = math.cos(angle), math.sin(angle)
    # Forward map: shear then rotate. Its inverse is what Image.transform takes.
    a, b, c, d = cos, cos * shear - sin, sin, sin * shear + cos
    mw, mh = mask.size
    corners = [
        (px * a + py * b, px * c + py * d)
        for px, py in ((-mw / 2, -mh / 2), (mw / 2, -mh / 2), (-mw / 2, mh / 2), (mw / 2, mh / 2))
    ]
    ow = int(max(p[0] for p in corners) - min(p[0] for p in corners)) + 2
    oh = int(max(p[1] for p in corners) - min(p[1] for p in corners)) + 2
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    # Output pixel (ox, oy), centred, maps back to mask pixel (sx, sy).
    cx, cy = ow / 2, oh / 2
    matrix = (ia, ib, mw / 2 - ia * cx - ib * cy, ic, id_, mh / 2 - ic * cx - id_ * cy)
    warped = mask.transform((ow, oh), Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)
    bbox = warped.getbbox()
    return warped.crop(bbox) if bbox else warped


def _wave(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    w: int,
    h: int,
    color: tuple[int, int, int],
    scale: int,
) -> None:
    amplitude = rng.uniform(0.08, 0.22) * h
    period = rng.uniform(0.5, 1.2) * w
    phase = rng.uniform(0, 2 * math.pi)
    base = rng.uniform(0.35, 0.65) * h
    tilt = rng.uniform(-0.2, 0.2) * h / w
    step = 3 * scale
    points = [
        (x, base + tilt * (x - w / 2) + amplitude * math.sin(2 * math.pi * x / period + phase))
        for x in range(0, w + step, step)
    ]
    draw.line(points, fill=color, width=max(1, int(1.5 * scale)))


def _light(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(225, 255), rng.randint(225, 255), rng.randint(225, 255))


def _mid(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(120, 190), rng.randint(120, 190), rng.randint(120, 190))


def _dark(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(10, 110), rng.randint(10, 110), rng.randint(10, 110))
