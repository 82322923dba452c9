"""Sphinx configuration. Build with ``tox -e docs`` (warnings are errors)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports the app, which needs configured settings.
import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    SECRET_KEY="docs-build-not-a-secret",  # noqa: S106
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django_smsverify",
    ],
    USE_TZ=True,
)
django.setup()

import django_smsverify  # noqa: E402

project = "django-smsverify"
author = "django-smsverify contributors"
copyright = "2026, django-smsverify contributors"
release = django_smsverify.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False}
intersphinx_mapping = {}  # offline builds: no inventories are fetched
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"django-smsverify {release}"
language = "en"
