"""Fail unless the built wheel carries everything the app needs at run time.

Run by ``tox -e packaging`` after ``python -m build``.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

REQUIRED = [
    "django_smsverify/__init__.py",
    "django_smsverify/py.typed",
    "django_smsverify/store/redis.py",
    "django_smsverify/backends/console.py",
]
REQUIRED_PREFIXES = [
    "django_smsverify/locale/zh_Hans/LC_MESSAGES/django.mo",
    "django_smsverify/locale/zh_Hans/LC_MESSAGES/django.po",
    "django_smsverify/templates/django_smsverify/",
    "django_smsverify/static/django_smsverify/",
    "django_smsverify/migrations/__init__.py",
]


def main(dist: str) -> int:
    wheels = sorted(Path(dist).glob("*.whl"))
    if len(wheels) != 1:
        print(f"expected one wheel in {dist}, found {len(wheels)}")
        return 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    missing = [n for n in REQUIRED if n not in names]
    missing += [p for p in REQUIRED_PREFIXES if not any(n.startswith(p) for n in names)]
    stray = [n for n in names if n.startswith(("tests/", "example_project/", "benchmarks/"))]
    for name in missing:
        print(f"missing from wheel: {name}")
    for name in stray:
        print(f"should not be in wheel: {name}")
    if missing or stray:
        return 1
    print(f"{wheels[0].name}: {len(names)} files, all required ones present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
