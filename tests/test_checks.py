"""One test per system-check id (and a clean bill of health for good settings)."""

from __future__ import annotations

import pytest
from django.core import checks

from django_smsverify import checks as smsverify_checks


def ids(messages):
    return [m.id for m in messages]


def run_all():
    return [m for m in checks.run_checks() if m.id and m.id.startswith("smsverify.")]


def test_good_settings_pass(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    }
    assert run_all() == []


def test_e001_backend_not_importable(settings):
    settings.SMS_BACKEND = "django_smsverify.backends.nope.SmsBackend"
    messages = smsverify_checks.check_backend()
    assert ids(messages) == ["smsverify.E001"]
    assert "nope" in messages[0].msg
    assert "smsverify.E001" in ids(run_all())


def test_e002_unknown_key_is_named(settings):
    settings.SMSVERIFY = {"CODE_TTL": 300, "RESEND_COOLDOWM": 60}
    messages = smsverify_checks.check_unknown_keys()
    assert ids(messages) == ["smsverify.E002"]
    assert "'RESEND_COOLDOWM'" in messages[0].msg
    assert "RESEND_COOLDOWN" in messages[0].hint


def test_e002_unknown_send_limit_key(settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"PHONE_PER_MINUTE": 1}}
    messages = smsverify_checks.check_unknown_keys()
    assert ids(messages) == ["smsverify.E002"]
    assert "PHONE_PER_MINUTE" in messages[0].msg


def test_e002_unknown_password_login_limit_key(settings):
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"PHONE_PER_DAY": 1}}
    messages = smsverify_checks.check_unknown_keys()
    assert ids(messages) == ["smsverify.E002"]
    assert "PHONE_PER_DAY" in messages[0].msg
    assert "PASSWORD_LOGIN_LIMITS" in messages[0].msg


def test_e002_not_a_dict(settings):
    settings.SMSVERIFY = ["CODE_TTL"]
    assert ids(smsverify_checks.check_unknown_keys()) == ["smsverify.E002"]


def test_w003_long_code_ttl(settings):
    settings.SMSVERIFY = {"CODE_TTL": 900}
    messages = smsverify_checks.check_code_ttl()
    assert ids(messages) == ["smsverify.W003"]
    assert "NIST" in messages[0].hint
    settings.SMSVERIFY = {"CODE_TTL": 600}
    assert smsverify_checks.check_code_ttl() == []


def test_w004_per_process_cache_in_production(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    messages = smsverify_checks.check_shared_cache()
    assert ids(messages) == ["smsverify.W004"]
    settings.DEBUG = True
    assert smsverify_checks.check_shared_cache() == []


def test_e005_test_numbers_in_production(settings):
    settings.DEBUG = False
    settings.SMSVERIFY = {"TEST_NUMBERS": {"+8613800000000": "123456"}}
    assert ids(smsverify_checks.check_test_numbers()) == ["smsverify.E005"]
    settings.SMSVERIFY = {"TEST_NUMBERS": {"+8613800000000": "123456"}, "ALLOW_TEST_NUMBERS": True}
    assert smsverify_checks.check_test_numbers() == []
    settings.DEBUG = True
    settings.SMSVERIFY = {"TEST_NUMBERS": {"+8613800000000": "123456"}}
    assert smsverify_checks.check_test_numbers() == []


def test_e006_invalid_values(settings):
    settings.SMSVERIFY = {
        "CODE_LENGTH": 3,
        "CODE_TTL": "300",
        "MAX_ATTEMPTS": 0,
        "SEND_LIMITS": {"PHONE_PER_DAY": -1},
        "DELIVERY": "rabbit",
        "DELIVERY_RECORDS": "no",
    }
    messages = smsverify_checks.check_values()
    assert ids(messages) == ["smsverify.E006"] * 6
    text = " ".join(m.msg for m in messages)
    for key in (
        "CODE_LENGTH",
        "CODE_TTL",
        "MAX_ATTEMPTS",
        "PHONE_PER_DAY",
        "'DELIVERY'",
        "DELIVERY_RECORDS",
    ):
        assert key in text


def test_e006_password_login_limits(settings):
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": "10", "IP_PER_HOUR": True}}
    messages = smsverify_checks.check_values()
    assert ids(messages) == ["smsverify.E006"] * 2
    assert "'PHONE_PER_HOUR'" in messages[0].msg
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": 10}
    messages = smsverify_checks.check_values()
    assert ids(messages) == ["smsverify.E006"]
    assert "must be a dict" in messages[0].msg
    settings.SMSVERIFY = {"PASSWORD_LOGIN_LIMITS": {"IP_PER_HOUR": None}}
    assert smsverify_checks.check_values() == []


def test_e007_cache_alias_missing(settings):
    settings.SMSVERIFY = {"CACHE": "verification"}
    messages = smsverify_checks.check_cache_alias()
    assert ids(messages) == ["smsverify.E007"]
    assert "'verification'" in messages[0].msg


def test_e008_bad_region_or_test_number(settings):
    settings.SMSVERIFY = {"DEFAULT_REGION": "XX"}
    assert ids(smsverify_checks.check_regions_and_numbers()) == ["smsverify.E008"]
    settings.SMSVERIFY = {"TEST_NUMBERS": {"12345": "123456", "+8613800000000": "12ab"}}
    messages = smsverify_checks.check_regions_and_numbers()
    assert ids(messages) == ["smsverify.E008", "smsverify.E008"]


@pytest.mark.parametrize("prefix", [16, 129, "64", True])
def test_e006_ipv6_prefix(settings, prefix):
    settings.SMSVERIFY = {"IPV6_PREFIX": prefix}
    [message] = smsverify_checks.check_values()
    assert message.id == "smsverify.E006"
    assert "IPV6_PREFIX" in message.msg and "from 32 to 128" in message.msg
    settings.SMSVERIFY = {"IPV6_PREFIX": 56}
    assert smsverify_checks.check_values() == []
