"""The captcha system checks, one test per id: E201-E204 and W201."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks


def ids() -> list[str]:
    # run_checks() runs every registered check, so this also proves that
    # django_smsverify.checks registers the captcha ones.
    return [
        m.id for m in run_checks() if m.id and m.id.startswith(("smsverify.E2", "smsverify.W2"))
    ]


def test_defaults_pass(settings):
    settings.DEBUG = False
    settings.SMSVERIFY = {}
    assert ids() == []


def test_e201_test_mode_without_debug(settings):
    settings.SMSVERIFY = {"CAPTCHA": {"TEST_MODE": True}}
    settings.DEBUG = False
    assert ids() == ["smsverify.E201"]
    settings.DEBUG = True
    assert ids() == []


@pytest.mark.parametrize(
    ("value", "count"),
    [("yes", 1), (1, 1), (None, 1), ({"LENGHT": 5}, 1), ({"SIZE": 1, "FONT": "x"}, 2)],
)
def test_e202_wrong_shape_or_unknown_keys(settings, value, count):
    settings.SMSVERIFY = {"CAPTCHA": value}
    assert ids() == ["smsverify.E202"] * count


@pytest.mark.parametrize(
    "options",
    [
        {"LENGTH": 2},
        {"LENGTH": 9},
        {"LENGTH": "4"},
        {"LENGTH": True},
        {"TTL": 5},
        {"TTL": 300.0},
        {"WIDTH": 10},
        {"HEIGHT": 1000},
        {"ENABLED": "yes"},
        {"TEST_MODE": 1},
        {"TEST_ANSWER": ""},
        {"TEST_ANSWER": 1234},
    ],
    ids=repr,
)
def test_e203_invalid_values(settings, options):
    settings.DEBUG = True
    settings.SMSVERIFY = {"CAPTCHA": options}
    assert ids() == ["smsverify.E203"]


def test_e204_pillow_without_freetype(settings, monkeypatch):
    from PIL import features

    settings.SMSVERIFY = {}
    real_check = features.check
    monkeypatch.setattr(
        features, "check", lambda name: False if name == "freetype2" else real_check(name)
    )
    assert ids() == ["smsverify.E204"]
    settings.SMSVERIFY = {"CAPTCHA": False}
    settings.DEBUG = True
    assert ids() == []


def test_w201_captcha_off_without_debug(settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    settings.DEBUG = False
    assert ids() == ["smsverify.W201"]
    settings.SMSVERIFY = {"CAPTCHA": {"ENABLED": False}}
    assert ids() == ["smsverify.W201"]
    settings.DEBUG = True
    assert ids() == []
