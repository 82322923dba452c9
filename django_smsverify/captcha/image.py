"""Drawing a captcha as a PNG with Pillow.

Meant to be read at a glance by people and to defeat stock OCR (measured by
``benchmarks/captcha_ocr.py``: tesseract on the raw image, after a colour
threshold plus a 5x5 opening, after a median filter plus Otsu's threshold,
and after colour clustering). What each part is for:

- Large, bold, upright-ish characters (at most 25 degrees each way), in dark
  colours on a light background: high contrast for people.
- Neighbours overlap so they touch, and each sits at its own height and
  angle: OCR cannot cut the row into characters or fit a baseline.
- The ink colours are drawn from one range for the characters, the
  interference arcs and the speckle alike, so no colour threshold or
  colour clustering keeps the characters and drops the rest.
- Two arcs cross the characters, one nearly as thick as a stroke: a
  morphological opening that removes it removes strokes too, and it joins
  the characters into one shape. Dots in ink colours, some as thick as a
  stroke, do the same on the background.
- A sine warp bends the whole picture, arcs and characters together.

The font is DejaVu Sans Bold when the system has it (Debian and Ubuntu
package ``fonts-dejavu-core``; Pillow finds it in the usual font
directories), else the scalable font inside Pillow (>= 10.1) drawn with a
stroke to make it bold (``smsverify.E204`` reports a Pillow without
FreeType). :func:`font_name` says which one is used.

This module does not touch Django, so it can be timed on its own
(``benchmarks/captcha.py``, ``benchmarks/captcha_ocr.py``).
"""

from __future__ import annotations

import colorsys
import functools
import io
import math
import random  # seeded drawing jitter, not secrets: the answer is an HMAC (challenge.py)

from PIL import Image, ImageDraw, ImageFont

#: File names tried, in order, before Pillow's own font. A bare name makes
#: Pillow search the system's font directories.
FONT_FILES = (
    "DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
)

# Font size as a share of the image height.
_FONT_RATIO = 0.78
# Largest rotation of one character, in degrees.
_MAX_ANGLE = 22


@functools.lru_cache(maxsize=1)
def _font_file() -> str | None:
    for name in FONT_FILES:
        try:
            ImageFont.truetype(name, 10)
        except OSError:
            continue
        return name
    return None


def font_name() -> str:
    """The font the captcha is drawn with (for benchmarks and diagnostics)."""
    return _font_file() or "Pillow's built-in font (bold by stroke)"


@functools.lru_cache(maxsize=16)
def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, int]:
    """The font at ``size`` pixels and the stroke width that makes it bold."""
    path = _font_file()
    if path is not None:
        return ImageFont.truetype(path, size), 0
    return ImageFont.load_default(size=size), max(1, size // 14)


@functools.lru_cache(maxsize=512)
def _glyph(char: str, size: int) -> Image.Image:
    """The mask of one character, cropped to its ink."""
    font, stroke = _font(size)
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
    # keeps the global `random` state out of it. Every draw below is the same
    # whatever the scale (floats, counts from the 1x size), so the 2x picture
    # is the 1x one, larger.
    rng = random.Random(seed)  # noqa: S311 - drawing jitter only, see above
    w, h = width * scale, height * scale
    image = Image.new("RGB", (w, h), _light(rng))
    draw = ImageDraw.Draw(image)
    _background(draw, rng, width, height, scale)

    colors = [_ink(rng) for _ in text]
    size = max(8, int(height * _FONT_RATIO)) * scale
    pieces = [
        _glyph(char, size).rotate(
            rng.uniform(-_MAX_ANGLE, _MAX_ANGLE),
            resample=Image.Resampling.BILINEAR,
            expand=True,
        )
        for char in text
    ]
    pieces = [piece.crop(piece.getbbox()) for piece in pieces]

    # Pack the characters so that neighbours overlap a little and touch, and
    # centre the row.
    overlap = [rng.uniform(0.04, 0.14) for _ in pieces]
    advances = [p.width - int(o * p.width) for p, o in zip(pieces, overlap, strict=True)]
    row = sum(advances[:-1]) + pieces[-1].width if pieces else 0
    x = (w - row) // 2 + int(rng.uniform(-0.04, 0.04) * w)
    spans = []
    for piece, color, advance in zip(pieces, colors, advances, strict=True):
        y_room = h - piece.height
        y = int(y_room * rng.uniform(0.2, 0.8)) if y_room > 0 else y_room // 2
        image.paste(color, (x, y), piece)
        spans.append((x, x + piece.width))
        x += advance

    # Two arcs in ink colours across the characters, one as thick as a
    # stroke. Each runs from high on one side to low on the other, so it
    # crosses every character at a different height and hides no feature
    # of any one for long.
    left = spans[0][0] if spans else 0
    right = spans[-1][1] if spans else w
    # The thick one is drawn from the darker part of the ink range, so a
    # threshold that keeps any character keeps it too, and is 7 px wide at
    # 2x (3 px at 1x): a 5x5 opening that removes thin lines keeps it even
    # where it runs diagonally.
    for thickness, darkest in ((0.0875, 0.3), (0.04, 0.55)):
        color = _ink(rng, darkest)
        _arc(draw, rng, left, right, h, int(thickness * height * scale), color)

    image = _sine_warp(image, rng, scale)
    out = io.BytesIO()
    # Level 1: these images are tiny and never cached; speed beats bytes here.
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _background(
    draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int, scale: int
) -> None:
    # Soft patches of other light tones, then speckle in ink colours.
    for _ in range(3):
        cx, cy = rng.random() * width, rng.random() * height
        rx, ry = rng.uniform(0.15, 0.4) * width, rng.uniform(0.3, 0.8) * height
        box = [(cx - rx) * scale, (cy - ry) * scale, (cx + rx) * scale, (cy + ry) * scale]
        draw.ellipse(box, fill=_light(rng))
    # Some dots are as thick as a stroke, so a filter that removes them
    # removes strokes too.
    for _ in range(width * height // 80):
        x, y = rng.random() * width * scale, rng.random() * height * scale
        r = rng.uniform(0.5, 1.7) * scale
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_ink(rng))


def _arc(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    left: int,
    right: int,
    h: int,
    thickness: int,
    color: tuple[int, int, int],
) -> None:
    span = right - left
    x0 = left + rng.uniform(-0.05, 0.15) * span
    x1 = right - rng.uniform(-0.05, 0.15) * span
    high, low = rng.uniform(0.2, 0.4) * h, rng.uniform(0.6, 0.8) * h
    y0, y1 = (high, low) if rng.random() < 0.5 else (low, high)
    bend = rng.uniform(0.1, 0.25) * h * rng.choice((-1, 1))
    steps = 16
    points = [
        (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t + bend * math.sin(math.pi * t))
        for t in (i / steps for i in range(steps + 1))
    ]
    draw.line(points, fill=color, width=max(1, thickness), joint="curve")


def _sine_warp(image: Image.Image, rng: random.Random, scale: int) -> Image.Image:
    """Shift each column up or down along a sine wave (the whole picture bends)."""
    w, h = image.size
    amplitude = rng.uniform(0.05, 0.09) * h
    period = rng.uniform(0.7, 1.2) * w
    phase = rng.uniform(0, 2 * math.pi)
    strip = 4 * scale
    mesh = []
    for x in range(0, w, strip):
        x1 = min(w, x + strip)
        d0 = amplitude * math.sin(2 * math.pi * x / period + phase)
        d1 = amplitude * math.sin(2 * math.pi * x1 / period + phase)
        # Target box, and the source quad (NW, SW, SE, NE) it is taken from.
        mesh.append(((x, 0, x1, h), (x, d0, x, h + d0, x1, h + d1, x1, d1)))
    fill = image.getpixel((0, 0))
    return image.transform(
        image.size, Image.Transform.MESH, mesh, Image.Resampling.BILINEAR, fillcolor=fill
    )


def _light(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(222, 255), rng.randint(222, 255), rng.randint(222, 255))


def _ink(rng: random.Random, darkest: float = 0.55) -> tuple[int, int, int]:
    # Any hue, strong saturation, dark: every one stands out against the
    # light background (luminance well under half of it), and they share one
    # range, so no colour separates characters from arcs and speckle.
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.2, darkest))
    return (int(r * 255), int(g * 255), int(b * 255))
