"""Captcha benchmark: images per second, ours against django-simple-captcha.

    python benchmarks/captcha.py [--seconds 3] [--width 120] [--height 40]

Both sides do the same work: draw a 4-character challenge at the same size
and return the PNG in an ``HttpResponse``, with no storage lookup. Ours is
``django_smsverify.captcha.image.render_png``; theirs is the function behind
django-simple-captcha's image view (``captcha.views._captcha_image``), seeded
per key as that view does, with its default noise and filters.

django-simple-captcha is installed from PyPI into a virtualenv of its own
(the same Pillow version as this interpreter's, so only the drawing code
differs), kept under the temp directory and reused on later runs
(``SMSVERIFY_BENCH_VENV`` picks another place). The first run needs network.
Each side is timed for ``--seconds`` after a short warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project root replaces this folder on the path: the folder's http.py
# would otherwise hide the standard library's http package.
sys.path[0] = str(ROOT)

SIMPLE_CAPTCHA = "django-simple-captcha==0.7.0"

THEIR_SIDE = textwrap.dedent(
    """
    import json, random, sys, time

    import django
    from django.conf import settings

    seconds, width, height = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    settings.configure(
        SECRET_KEY="benchmark-not-a-secret",
        INSTALLED_APPS=["django.contrib.contenttypes", "captcha"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CAPTCHA_IMAGE_SIZE=(width, height),
        USE_TZ=True,
    )
    django.setup()

    import captcha
    from captcha.conf import settings as captcha_settings
    from captcha.views import _captcha_image


    class Store:  # what _captcha_image reads from a CaptchaStore row
        def __init__(self, challenge):
            self.challenge = challenge


    def one(i):
        challenge, _response = captcha_settings.get_challenge()()
        random.seed("key-%d" % i)  # as captcha_image() does before drawing
        return _captcha_image(Store(challenge), 1).content


    for i in range(50):
        one(i)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        png = one(count)
        count += 1
    elapsed = time.perf_counter() - start
    assert png.startswith(b"\\x89PNG")
    from importlib.metadata import version
    print(json.dumps({"count": count, "elapsed": elapsed, "bytes": len(png),
                      "version": version("django-simple-captcha")}))
    """
)


def ours(seconds: float, width: int, height: int) -> dict[str, float]:
    import django
    from django.conf import settings

    settings.configure(SECRET_KEY="benchmark-not-a-secret", USE_TZ=True)  # noqa: S106
    django.setup()
    from django.http import HttpResponse

    from django_smsverify.captcha import ALPHABET
    from django_smsverify.captcha.image import render_png

    def one() -> bytes:
        # A fresh answer and seed each time, as for a fresh challenge.
        text = "".join(secrets.choice(ALPHABET) for _ in range(4))
        png = render_png(text, width, height, seed=secrets.randbits(64))
        return HttpResponse(png, content_type="image/png").content

    for _ in range(50):
        one()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        png = one()
        count += 1
    elapsed = time.perf_counter() - start
    assert png.startswith(b"\x89PNG")
    return {"count": count, "elapsed": elapsed, "bytes": len(png)}


def their_python() -> Path:
    import PIL

    home = Path(
        os.environ.get("SMSVERIFY_BENCH_VENV")
        or Path(tempfile.gettempdir()) / "django-smsverify-bench-captcha"
    )
    python = home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = home / "installed.txt"
    wanted = f"{SIMPLE_CAPTCHA} Pillow=={PIL.__version__}"
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        print(f"installing {wanted} into {home} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                SIMPLE_CAPTCHA,
                f"Pillow=={PIL.__version__}",
            ],
            check=True,
        )
        marker.write_text(wanted)
    return python


def theirs(seconds: float, width: int, height: int) -> dict[str, float]:
    python = their_python()
    script = python.parent.parent / "bench_simple_captcha.py"
    script.write_text(THEIR_SIDE)
    result = subprocess.run(
        [str(python), str(script), str(seconds), str(width), str(height)],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds * 10 + 60,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per side")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    args = parser.parse_args()

    import PIL

    ours_result = ours(args.seconds, args.width, args.height)
    theirs_result = theirs(args.seconds, args.width, args.height)
    ours_rate = ours_result["count"] / ours_result["elapsed"]
    theirs_rate = theirs_result["count"] / theirs_result["elapsed"]
    size = f"{args.width}x{args.height}"
    print(f"Python {sys.version.split()[0]}, Pillow {PIL.__version__}, {size} PNG, 4 characters")
    print(
        f"django-smsverify      {ours_rate:9.0f} images/s  "
        f"({1000 / ours_rate:.2f} ms each, {ours_result['bytes']} bytes)"
    )
    print(
        f"django-simple-captcha {theirs_rate:9.0f} images/s  "
        f"({1000 / theirs_rate:.2f} ms each, {theirs_result['bytes']} bytes, "
        f"{theirs_result['version']})"
    )
    print(f"ratio (ours / theirs): {ours_rate / theirs_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
