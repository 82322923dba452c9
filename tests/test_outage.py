"""A store that is down never fails open: 503-style ServiceUnavailable, nothing sent."""

from __future__ import annotations

import pytest

import django_smsverify
from django_smsverify import verification
from django_smsverify.exceptions import ServiceUnavailable
from tests.conftest import CACHE_CONFIGS, DOWN_CACHE_CONFIGS

PHONE = "+8613800138000"

DOWN = {
    **DOWN_CACHE_CONFIGS,
    "generic": {"BACKEND": "tests.broken_cache.BrokenCache"},
}


@pytest.fixture(params=list(DOWN))
def down_cache(request, settings):
    settings.CACHES = {"default": DOWN[request.param]}
    return request.param


def test_send_code_raises_service_unavailable_and_sends_nothing(down_cache):
    with pytest.raises(ServiceUnavailable):
        verification.send_code(PHONE, "register", ip="203.0.113.9")
    assert django_smsverify.outbox == []


def test_check_code_raises_service_unavailable(down_cache):
    with pytest.raises(ServiceUnavailable):
        verification.check_code(PHONE, "123456", "register")


def test_separate_cache_alias(settings, redis_db):
    settings.CACHES = {
        "default": DOWN["generic"],
        # The suite's django-redis config: django-redis keeps one pool per
        # process and URL, and the race tests need its 500 connections.
        "verification": CACHE_CONFIGS["django-redis"],
    }
    settings.SMSVERIFY = {"CACHE": "verification"}
    verification.send_code(PHONE, "register")
    assert verification.check_code(PHONE, django_smsverify.outbox[0].params[0], "register")
    assert redis_db.dbsize() > 0
