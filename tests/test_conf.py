"""App settings: defaults, lazy reading, merging of sub-dicts."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_smsverify.conf import DEFAULTS, AppSettings, app_settings


def test_defaults():
    assert app_settings.CODE_LENGTH == 6
    assert app_settings.CODE_TTL == 300
    assert app_settings.RESEND_COOLDOWN == 60
    assert app_settings.MAX_ATTEMPTS == 5
    assert app_settings.CACHE == "default"
    assert app_settings.DEFAULT_REGION == "CN"
    assert frozenset({"CN"}) == app_settings.ALLOWED_REGIONS
    assert app_settings.DELIVERY == "sync"
    assert app_settings.PREVENT_ENUMERATION is True
    assert app_settings.TEST_NUMBERS == {}


def test_read_lazily_so_override_settings_works():
    with override_settings(SMSVERIFY={"CODE_LENGTH": 8}):
        assert app_settings.CODE_LENGTH == 8
    assert app_settings.CODE_LENGTH == 6


def test_send_limits_merge_with_defaults(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": None}}
    assert app_settings.SEND_LIMITS == {
        "PHONE_PER_HOUR": 5,
        "PHONE_PER_DAY": 10,
        "IP_PER_HOUR": None,
    }


def test_password_login_limits_merge_with_defaults(settings):
    assert app_settings.PASSWORD_LOGIN_LIMITS == {"PHONE_PER_HOUR": 10, "IP_PER_HOUR": 50}
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"IP_PER_HOUR": None}}
    assert app_settings.PASSWORD_LOGIN_LIMITS == {"PHONE_PER_HOUR": 10, "IP_PER_HOUR": None}


def test_every_default_has_a_documented_property():
    for key in DEFAULTS:
        prop = getattr(AppSettings, key)
        assert isinstance(prop, property), key
        assert prop.__doc__ and len(prop.__doc__) > 20, key


def test_sms_backend_comes_from_top_level_setting(settings):
    settings.SMS_BACKEND = "x.y.Z"
    assert app_settings.SMS_BACKEND == "x.y.Z"


@pytest.mark.parametrize(
    ("seconds", "english", "chinese"),
    [
        (1, "1 second", "1 秒"),
        (90, "90 seconds", "90 秒"),
        (91, "2 minutes", "2 分钟"),
        (3595, "60 minutes", "60 分钟"),
        (5400, "90 minutes", "90 分钟"),
        (5401, "2 hours", "2 小时"),
        (86_400, "24 hours", "24 小时"),
    ],
)
def test_waits_read_as_people_say_them(seconds, english, chinese):
    from django.utils import translation

    from django_smsverify.exceptions import RateLimited, wait_text

    assert wait_text(seconds) == english
    with translation.override("zh-hans"):
        assert wait_text(seconds) == chinese
        # Built in the language active when shown, not when raised.
        limited = RateLimited(seconds, scope="phone_hour")
    with translation.override("zh-hans"):
        assert chinese in str(limited.message)
    assert english in str(limited.message)
