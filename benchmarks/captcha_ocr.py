"""Captcha OCR benchmark: how many images stock OCR solves, and render time.

    python benchmarks/captcha_ocr.py [--images 500] [--scales 1,2] [--jobs N]

Renders ``--images`` challenges with
:func:`django_smsverify.captcha.image.render_png` (random answers from the
captcha's alphabet, the configured default size 120x40, at each of
``--scales``: 2 is the image high-density screens get, and the one an attacker
would fetch), and runs the Debian ``tesseract`` command (apt package
``tesseract-ocr``; no Python OCR package) on each through these
preprocessing pipelines:

``raw``
    the PNG as served, ``--psm 7`` (one line of text) with a whitelist of the
    alphabet.
``pentest``
    the pipeline of the penetration test that solved 26 % of the old images
    (issue 15): a pixel is ink when *every* channel is <= 115, then a 5x5
    morphological opening of the ink (a 5x5 max filter, which erodes dark
    ink on white, then a 5x5 min filter, which grows it back), so lines and
    dots thinner than 5 px vanish; ``--psm 7`` with the whitelist.
``otsu``
    grey scale, a 3x3 median filter, Otsu's global threshold; ``--psm 7``
    with the whitelist.
``cluster``
    colour clustering: the picture quantised to 4 colours (median cut), ink
    is every cluster darker than the mean brightness; a 3x3 median filter;
    ``--psm 7`` with the whitelist.

A solve is an exact match of the whole answer (case and spaces ignored, as
the captcha compares). The script prints the solve rate per pipeline and
scale, and the render time per image (median and 95th percentile, one
thread, PNG bytes included), and exits 1 when a pipeline solves more than
``--max-rate`` (2 %) or the median render time exceeds ``--max-ms`` (2 ms at
scale 1). ``--save DIR`` writes the first 12 images as PNG files to look at.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project root replaces this folder on the path: the folder's http.py
# would otherwise hide the standard library's http package.
sys.path[0] = str(ROOT)

from PIL import Image, ImageChops, ImageFilter, ImageStat  # noqa: E402

from django_smsverify.captcha import image as image_module  # noqa: E402
from django_smsverify.captcha.challenge import ALPHABET  # noqa: E402
from django_smsverify.captcha.image import font_name, render_png  # noqa: E402
from django_smsverify.conf import DEFAULTS  # noqa: E402

# The size and length pages use by default.
WIDTH, HEIGHT, LENGTH = (DEFAULTS["CAPTCHA"][name] for name in ("WIDTH", "HEIGHT", "LENGTH"))
PENTEST_THRESHOLD = 115


def pentest(image: Image.Image) -> Image.Image:
    r, g, b = image.convert("RGB").split()
    # Ink (black) where every channel is <= 115, i.e. the brightest channel is.
    brightest = ImageChops.lighter(ImageChops.lighter(r, g), b)
    binary = brightest.point(lambda v: 0 if v <= PENTEST_THRESHOLD else 255)
    return binary.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.MinFilter(5))


def otsu_level(gray: Image.Image) -> int:
    histogram = gray.histogram()
    total = sum(histogram)
    weighted_total = sum(i * n for i, n in enumerate(histogram))
    best, level = -1.0, 127
    weight = weighted = 0
    for i, n in enumerate(histogram):
        weight += n
        if weight == 0 or weight == total:
            continue
        weighted += i * n
        mean_low = weighted / weight
        mean_high = (weighted_total - weighted) / (total - weight)
        between = weight * (total - weight) * (mean_low - mean_high) ** 2
        if between > best:
            best, level = between, i
    return level


def otsu(image: Image.Image) -> Image.Image:
    gray = image.convert("L").filter(ImageFilter.MedianFilter(3))
    level = otsu_level(gray)
    return gray.point(lambda v: 0 if v <= level else 255)


def cluster(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB")
    quantised = rgb.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    brightness = [
        (palette[3 * i] * 299 + palette[3 * i + 1] * 587 + palette[3 * i + 2] * 114) / 1000
        for i in range(4)
    ]
    mean = ImageStat.Stat(rgb.convert("L")).mean[0]
    dark = {i for i, b in enumerate(brightness) if b < mean}
    lut = [0 if i in dark else 255 for i in range(256)]
    return quantised.point(lut, "L").filter(ImageFilter.MedianFilter(3))


PIPELINES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "raw": lambda image: image,
    "pentest": pentest,
    "otsu": otsu,
    "cluster": cluster,
}


def tesseract(image: Image.Image, workdir: Path, name: str) -> str:
    path = workdir / f"{name}.png"
    # A white margin: tesseract reads text that touches the border badly.
    framed = Image.new(image.mode, (image.width + 20, image.height + 20), "white")
    framed.paste(image, (10, 10))
    framed.save(path)
    result = subprocess.run(
        [
            "tesseract",
            str(path),
            "stdout",
            "--psm",
            "7",
            "-c",
            f"tessedit_char_whitelist={ALPHABET}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    return "".join(result.stdout.split()).upper()


def render_times(count: int, scale: int) -> list[float]:
    rng = random.Random(1)
    render_png("WARM", WIDTH, HEIGHT, scale=scale, seed=0)
    timings = []
    for _ in range(count):
        text = "".join(rng.choice(ALPHABET) for _ in range(LENGTH))
        seed = rng.getrandbits(64)
        start = time.perf_counter()
        render_png(text, WIDTH, HEIGHT, scale=scale, seed=seed)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def attack(job: tuple[tuple[str, int], int, int, list[str], Path]) -> list[str]:
    """The pipelines that read one image's answer exactly."""
    (text, seed), index, scale, pipelines, workdir = job
    image = Image.open(io.BytesIO(render_png(text, WIDTH, HEIGHT, scale=scale, seed=seed)))
    image.load()
    return [
        name
        for name in pipelines
        if tesseract(PIPELINES[name](image), workdir, f"{index}-{name}") == text
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--scales", default="1,2")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--max-rate", type=float, default=2.0, help="percent")
    parser.add_argument("--max-ms", type=float, default=2.0)
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument(
        "--builtin-font", action="store_true", help="draw with Pillow's font, as without DejaVu"
    )
    args = parser.parse_args()
    if args.builtin_font:
        image_module.FONT_FILES = ()
        image_module._font_file.cache_clear()
    if shutil.which("tesseract") is None:
        print("tesseract not found: apt-get install tesseract-ocr", file=sys.stderr)
        return 2
    scales = [int(s) for s in args.scales.split(",")]
    pipelines = args.pipelines.split(",")
    rng = random.Random(args.seed)
    cases = [
        ("".join(rng.choice(ALPHABET) for _ in range(LENGTH)), rng.getrandbits(64))
        for _ in range(args.images)
    ]
    print(f"font: {font_name()}; {args.images} images of {WIDTH}x{HEIGHT}, answers of {LENGTH}")
    failed = False
    for scale in scales:
        timings = render_times(max(args.images, 500), scale)
        median = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[-1]
        print(f"scale {scale}: render {median:.2f} ms median, {p95:.2f} ms p95 per image")
        if scale == 1 and median > args.max_ms:
            failed = True
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for i, (text, seed) in enumerate(cases[:12]):
                png = render_png(text, WIDTH, HEIGHT, scale=scale, seed=seed)
                (args.save / f"{i:02d}-{text}-x{scale}.png").write_bytes(png)
        solved = dict.fromkeys(pipelines, 0)
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
            jobs = [(case, i, scale, pipelines, Path(tmp)) for i, case in enumerate(cases)]
            for names in pool.map(attack, jobs):
                for name in names:
                    solved[name] += 1
        for name in pipelines:
            rate = 100 * solved[name] / len(cases)
            failed |= rate > args.max_rate
            print(f"scale {scale}: {name:8s} solved {solved[name]:4d}/{len(cases)} = {rate:5.1f} %")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
