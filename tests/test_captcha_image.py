"""The captcha renderer: PNG output, sizes, determinism, speed."""

from __future__ import annotations

import io
import statistics
import time

from PIL import Image

from django_smsverify.captcha.image import render_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def open_png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_MAGIC)
    return Image.open(io.BytesIO(data))


def test_renders_a_png_of_the_requested_size():
    assert open_png(render_png("AB3K", 120, 40, seed=1)).size == (120, 40)
    assert open_png(render_png("AB3K", 120, 40, scale=2, seed=1)).size == (240, 80)
    assert open_png(render_png("AB3KXY", 200, 60, seed=1)).size == (200, 60)


def test_same_seed_same_picture_other_seed_or_text_other_picture():
    first = render_png("AB3K", 120, 40, seed=7)
    assert render_png("AB3K", 120, 40, seed=7) == first
    assert render_png("AB3K", 120, 40, seed=8) != first
    assert render_png("AB3X", 120, 40, seed=7) != first


def test_characters_are_drawn_in_ink_dark_enough_to_read():
    image = open_png(render_png("AB3K", 120, 40, seed=3)).convert("L")
    histogram = image.histogram()
    dark = sum(histogram[:120])
    # Four glyphs plus two lines cover far more than a sprinkle of pixels,
    # but the picture is still mostly background.
    assert 250 < dark < 120 * 40 // 2


def test_the_2x_picture_is_the_1x_picture_larger():
    small = open_png(render_png("AB3K", 120, 40, seed=5)).convert("L")
    large = open_png(render_png("AB3K", 120, 40, scale=2, seed=5)).convert("L")
    shrunk = large.resize(small.size, Image.Resampling.BOX)

    # Same layout: the mean absolute difference stays small (different seeds
    # give pictures that differ far more, checked below).
    def mean_diff(a: Image.Image, b: Image.Image) -> float:
        return statistics.fmean(abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True))

    other = open_png(render_png("AB3K", 120, 40, seed=6)).convert("L")
    assert mean_diff(small, shrunk) < mean_diff(small, other) / 2


def test_rendering_takes_a_few_milliseconds():
    render_png("WARM", 120, 40, seed=0)
    timings = []
    for seed in range(30):
        start = time.perf_counter()
        render_png("AB3K", 120, 40, seed=seed)
        timings.append(time.perf_counter() - start)
    # About 0.5 ms on a laptop; the bound leaves room for a busy CI machine.
    assert statistics.median(timings) < 0.010
