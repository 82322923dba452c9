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


def test_a_challenge_key_always_gives_the_same_png_of_the_configured_size(store_cache, settings):
    from django_smsverify import captcha

    settings.SMSVERIFY = {"CAPTCHA": {"WIDTH": 150, "HEIGHT": 50}}
    key = captcha.new_challenge().key
    other = captcha.new_challenge().key
    first = captcha.challenge_image(key)
    assert first is not None
    assert captcha.challenge_image(key) == first
    assert captcha.challenge_image(other) != first
    assert open_png(first).format == "PNG"
    assert open_png(first).size == (150, 50)
    double = captcha.challenge_image(key, scale=2)
    assert double is not None and open_png(double).size == (300, 100)
    assert captcha.challenge_image(key, scale=2) == double


def test_without_the_system_font_pillows_own_font_is_used(monkeypatch):
    from django_smsverify.captcha import image

    monkeypatch.setattr(image, "FONT_FILES", ("no-such-font-anywhere.ttf",))
    image._font_file.cache_clear()
    image._font.cache_clear()
    image._glyph.cache_clear()
    try:
        assert image.font_name() == "Pillow's built-in font (bold by stroke)"
        png = render_png("CDKW", 120, 40, seed=4)
        assert open_png(png).size == (120, 40)
        assert render_png("CDKW", 120, 40, seed=4) == png
        dark = sum(open_png(png).convert("L").histogram()[:120])
        assert dark > 250
    finally:
        image._font_file.cache_clear()
        image._font.cache_clear()
        image._glyph.cache_clear()


def test_characters_are_large_and_rotated_at_most_25_degrees():
    from django_smsverify.captcha import image

    assert image._MAX_ANGLE <= 25
    # The ink of one character spans most of the image height.
    mask = image._glyph("H", int(40 * image._FONT_RATIO))
    assert mask.getbbox() is not None
    assert mask.height >= 0.5 * 40
