"""The settings reference (docs/settings.rst) and conf.py agree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django_smsverify.conf import DEFAULTS

SETTINGS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "settings.rst"


def documented() -> dict[str, str]:
    """{key: the text of its section} for every ``KEY`` section heading."""
    text = SETTINGS_PAGE.read_text()
    pattern = re.compile(
        r"^``([A-Z0-9_]+)``\n~+\n(.*?)(?=^``[A-Z0-9_]+``\n~|^\S[^\n]*\n-+\n|\Z)", re.M | re.S
    )
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def test_every_key_is_documented_and_nothing_else():
    sections = documented()
    assert set(sections) == set(DEFAULTS), (
        f"missing from docs: {sorted(set(DEFAULTS) - set(sections))}; "
        f"documented but unknown: {sorted(set(sections) - set(DEFAULTS))}"
    )


def test_documented_defaults_match_conf():
    for key, body in documented().items():
        match = re.search(r"Default: ``(.*?)``", " ".join(body.split()))
        assert match, f"{key}: no 'Default:' line"
        assert ast.literal_eval(match.group(1)) == DEFAULTS[key], key
