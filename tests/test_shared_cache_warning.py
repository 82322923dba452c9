"""``smsverify.W015``: a shared cache that cannot run the atomic store.

Memcached, the database cache, the file cache (anything but Redis or Valkey)
get the generic store, whose lock holds within one process only. With
``manage.py check --deploy`` the app says so, naming the risk; LocMem and
Dummy keep their own warning (W004); Redis and Valkey caches get none.
Only the backend class is looked at: nothing here needs a running server or
the Memcached client libraries.
"""

from __future__ import annotations

import os
import tempfile
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_smsverify import checks as smsverify_checks
from django_smsverify.store import is_atomic

SHARED_NOT_ATOMIC = {
    "pymemcache": {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": "127.0.0.1:11211",
    },
    "pylibmc": {
        "BACKEND": "django.core.cache.backends.memcached.PyLibMCCache",
        "LOCATION": "127.0.0.1:11211",
    },
    "database": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "smsverify_cache",
    },
    "file": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.path.join(tempfile.gettempdir(), "smsverify-cache"),
    },
    "async django-valkey": {
        "BACKEND": "django_valkey.async_cache.cache.AsyncValkeyCache",
        "LOCATION": "valkey://127.0.0.1:6379/0",
    },
}

ATOMIC = {
    "django-redis": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://x:6379/0"},
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://x:6379/0",
    },
    "django-valkey": {
        "BACKEND": "django_valkey.cache.ValkeyCache",
        "LOCATION": "valkey://x:6379/0",
    },
    "django-valkey cluster": {
        "BACKEND": "django_valkey.cluster_cache.cache.ClusterValkeyCache",
        "LOCATION": "valkey://x:6379/0",
    },
}

REDIS = ATOMIC["django-redis"]
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def w015(**kwargs: object) -> list[checks.CheckMessage]:
    return [m for m in smsverify_checks.check_atomic_store(**kwargs) if m.id == "smsverify.W015"]


@pytest.mark.parametrize("name", list(SHARED_NOT_ATOMIC))
def test_w015_a_shared_cache_without_the_atomic_store_names_the_risk(settings, name):
    settings.CACHES = {"default": SHARED_NOT_ATOMIC[name]}
    (warning,) = w015()
    assert warning.level == checks.WARNING
    assert "SMSVERIFY['CACHE'] is 'default'" in warning.msg
    assert SHARED_NOT_ATOMIC[name]["BACKEND"] in warning.msg
    for risk in ("accepted twice", "cooldown or quota bypassed", "MAX_ATTEMPTS"):
        assert risk in warning.msg
    assert "Redis or Valkey" in warning.hint
    assert "django-valkey" in warning.hint


@pytest.mark.parametrize("name", list(ATOMIC))
def test_w015_is_silent_for_redis_and_valkey(settings, name):
    settings.CACHES = {"default": ATOMIC[name]}
    assert w015() == []


def test_w015_is_silent_for_locmem_which_has_w004(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": LOCMEM}
    assert w015() == []
    assert [m.id for m in smsverify_checks.check_shared_cache()] == ["smsverify.W004"]


def test_w015_names_a_captcha_cache_that_cannot_run_the_atomic_store(settings):
    settings.CACHES = {"default": REDIS, "captcha": SHARED_NOT_ATOMIC["database"]}
    settings.SMSVERIFY = {"CAPTCHA_CACHE": "captcha"}
    (warning,) = w015()
    assert "SMSVERIFY['CAPTCHA_CACHE'] is 'captcha'" in warning.msg
    assert "one solved captcha can be accepted more than once" in warning.msg


def test_w015_warns_once_for_an_alias_holding_both(settings):
    settings.CACHES = {"default": SHARED_NOT_ATOMIC["file"], "other": REDIS}
    settings.SMSVERIFY = {"CAPTCHA_CACHE": "default"}
    assert len(w015()) == 1


def test_w015_runs_with_check_deploy_only(settings):
    settings.CACHES = {"default": SHARED_NOT_ATOMIC["database"]}
    plain = [m.id for m in checks.run_checks() if m.id.startswith("smsverify.")]
    deploy = [
        m.id
        for m in checks.run_checks(include_deployment_checks=True)
        if m.id.startswith("smsverify.")
    ]
    assert "smsverify.W015" not in plain
    assert "smsverify.W015" in deploy
    # manage.py check --deploy --fail-level WARNING stops on it.
    with pytest.raises(SystemCheckError, match=r"smsverify\.W015"):
        call_command("check", "--deploy", "--fail-level", "WARNING", stdout=StringIO())


def test_is_atomic_looks_at_the_class_only():
    from django.core.cache.backends.db import DatabaseCache
    from django.core.cache.backends.redis import RedisCache
    from django_redis.cache import RedisCache as DjangoRedisPackageCache
    from django_valkey.async_cache.cache import AsyncValkeyCache
    from django_valkey.cache import ValkeyCache

    assert is_atomic(RedisCache) and is_atomic(DjangoRedisPackageCache) and is_atomic(ValkeyCache)
    assert not is_atomic(DatabaseCache) and not is_atomic(AsyncValkeyCache)
