"""System checks of the REST API settings: one test per id (E501, E502), and
the missing-extra error."""

from __future__ import annotations

import importlib
import sys

import pytest
from django.core import checks

from django_smsverify.contrib.rest_framework import checks as drf_checks
from django_smsverify.exceptions import MissingDependency


def ids(messages):
    return [m.id for m in messages]


def run_all():
    return [m for m in checks.run_checks() if m.id and m.id.startswith("smsverify.E5")]


def test_default_and_simplejwt_hooks_pass(settings):
    assert drf_checks.check_drf() == []
    settings.SMSVERIFY = {
        "DRF": {"TOKEN_HOOK": "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"}
    }
    assert drf_checks.check_drf() == []


def test_e501_not_a_dict_or_unknown_key(settings):
    settings.SMSVERIFY = {"DRF": "simplejwt"}
    assert ids(drf_checks.check_drf()) == ["smsverify.E501"]
    settings.SMSVERIFY = {"DRF": {"TOKEN_HOOKS": "x.y"}}
    messages = drf_checks.check_drf()
    assert ids(messages) == ["smsverify.E501"]
    assert "'TOKEN_HOOKS'" in messages[0].msg
    assert ids(run_all()) == ["smsverify.E501"]


@pytest.mark.parametrize(
    "path",
    [
        "django_smsverify.contrib.rest_framework.tokens.nope",
        "no_such_module.hook",
        "django_smsverify.contrib.rest_framework.tokens.TokenHook.__doc__",
        "django_smsverify.conf.PURPOSES",
        12,
    ],
)
def test_e502_hook_not_importable_or_not_callable(settings, path):
    settings.SMSVERIFY = {"DRF": {"TOKEN_HOOK": path}}
    messages = drf_checks.check_drf()
    assert ids(messages) == ["smsverify.E502"]
    assert "smsverify.E502" in ids(run_all())


def test_missing_drf_names_the_pip_install_line(monkeypatch):
    from django_smsverify.contrib import rest_framework as contrib

    monkeypatch.setitem(sys.modules, "rest_framework", None)
    with pytest.raises(MissingDependency, match=r'pip install "django-smsverify\[drf\]"'):
        contrib.require_drf()
    monkeypatch.delitem(sys.modules, "django_smsverify.contrib.rest_framework.serializers")
    with pytest.raises(MissingDependency):
        importlib.import_module("django_smsverify.contrib.rest_framework.serializers")
