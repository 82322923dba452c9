"""What the store leaves in Redis: every key expires, and no code or number is readable."""

from __future__ import annotations

import logging
import re

import pytest

from django_smsverify import verification
from django_smsverify.exceptions import CodeMismatch, RateLimited
from tests.helpers import last_code, wrong_code

PHONE = "+8613800138000"


@pytest.fixture(params=["django-redis", "redis"])
def redis_cache(request, settings, redis_db):
    from tests.conftest import CACHE_CONFIGS

    settings.CACHES = {"default": CACHE_CONFIGS[request.param]}
    return redis_db


def exercise():
    verification.send_code(PHONE, "register", ip="203.0.113.9")
    code = last_code()
    with pytest.raises(CodeMismatch):
        verification.check_code(PHONE, wrong_code(code), "register")
    with pytest.raises(RateLimited):
        verification.send_code(PHONE, "register", ip="203.0.113.9")
    verification.send_code(PHONE, "login", ip="203.0.113.9")
    return code, last_code()


# The traffic counters and the pumping guard (one slot of their own): they
# hold purposes, regions and number prefixes (the country code and 6 digits,
# a block of 100,000 numbers), never a whole number.
OPS = b"smsverify:{ops}:"
DAY_MS = 86_400_000


def stored_values(client, key):
    if client.type(key) == b"hash":
        return list(client.hgetall(key).items())
    return [(b"", client.get(key))]


def test_every_key_has_a_ttl_and_nothing_is_in_clear(redis_cache):
    codes = exercise()
    keys = list(redis_cache.scan_iter(count=1000))
    assert (
        len([k for k in keys if OPS not in k]) >= 7
    )  # 2 codes, 2 cooldowns, attempts, hour, day, ip
    assert any(OPS in k for k in keys)
    national = PHONE[3:]
    for key in keys:
        ttl = redis_cache.pttl(key)
        # Counters of a day are kept 31 days, for the admin's 30-day charts.
        assert 0 < ttl <= (31 * DAY_MS if OPS in key else DAY_MS), (key, ttl)
        for field, value in stored_values(redis_cache, key):
            for secret in (*codes, national, "203.0.113.9"):
                assert secret.encode() not in key, key
                assert secret.encode() not in field + value, (key, field, value)


def test_keys_are_fixed_length_with_a_cluster_hash_tag(redis_cache):
    exercise()
    tag = re.compile(rb"smsverify:\{([0-9a-f]{32})\}:")
    tags = set()
    for key in redis_cache.scan_iter():
        if OPS in key:
            continue
        match = tag.search(key)
        assert match, key
        tags.add(match.group(1))
    assert len(tags) == 2  # the number's slot and the IP's slot


def test_locmem_keys_all_expire(settings):
    from django.core.cache import caches

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    caches["default"].clear()

    codes = exercise()
    cache = caches["default"]
    assert cache._cache
    for key, value in cache._cache.items():
        assert cache._expire_info[key] is not None, key
        for secret in (*codes, PHONE[3:]):
            assert secret not in key
            assert secret.encode() not in value


def test_codes_are_never_logged(caplog, capfd, store_cache, settings):
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    from django_smsverify.exceptions import SmsSendError

    with pytest.raises(SmsSendError):
        verification.send_code(PHONE, "register")
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    codes = exercise()
    assert verification.check_code(PHONE, codes[1], "login") == PHONE
    out, err = capfd.readouterr()
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        for code in codes:
            assert code not in text, text
        assert PHONE not in text and PHONE[3:] not in text, text
    for code in codes:
        assert code not in out + err


def test_ip_key_untouched_when_the_ip_quota_is_off(redis_cache, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": None}}
    verification.send_code(PHONE, "register", ip="203.0.113.9")
    tags = {
        re.search(rb"\{([0-9a-f]{32})\}", key).group(1)
        for key in redis_cache.scan_iter()
        if OPS not in key
    }
    assert len(tags) == 1  # only the number's slot
