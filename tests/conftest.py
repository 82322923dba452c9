"""Fixtures shared by the whole suite.

Store tests run on every kind of cache the app supports: LocMem (the generic
store) and a real Redis through both django-redis and Django's own RedisCache
(the Lua store). Without a Redis at REDIS_URL the Redis cases are skipped,
unless SMSVERIFY_REQUIRE_REDIS=1 (as in CI), where they fail instead.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from django.conf import settings as django_settings

import django_smsverify

REQUIRE_REDIS = os.environ.get("SMSVERIFY_REQUIRE_REDIS") == "1"

CACHE_CONFIGS = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "django-redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": django_settings.REDIS_URL,
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 1,
            "SOCKET_TIMEOUT": 2,
            # The race tests open up to 200 connections at once.
            "CONNECTION_POOL_KWARGS": {"max_connections": 500},
        },
    },
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": django_settings.REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2, "max_connections": 500},
    },
}


#: Caches whose server is down (nothing listens on port 1), for outage tests.
DOWN_CACHE_CONFIGS = {
    "django-redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    },
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    },
}


def redis_client():
    import redis

    return redis.Redis.from_url(django_settings.REDIS_URL)


def _redis_available() -> bool:
    try:
        return bool(redis_client().ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_available() -> bool:
    available = _redis_available()
    if not available and REQUIRE_REDIS:
        pytest.fail(
            f"SMSVERIFY_REQUIRE_REDIS=1 but no Redis answers at {django_settings.REDIS_URL}"
        )
    return available


@pytest.fixture
def redis_db(redis_available):
    """A real, empty Redis database (flushed before and after the test)."""
    if not redis_available:
        pytest.skip(f"no Redis at {django_settings.REDIS_URL}")
    client = redis_client()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(params=list(CACHE_CONFIGS))
def store_cache(request, settings):
    """Run the test once per store: LocMem, django-redis and Django's RedisCache."""
    name = request.param
    if name != "locmem":
        request.getfixturevalue("redis_db")
    settings.CACHES = {"default": CACHE_CONFIGS[name]}
    from django.core.cache import caches

    caches["default"].clear()
    yield name
    # A test may have pointed the cache at a broken server.
    with contextlib.suppress(Exception):
        caches["default"].clear()


def _undo_django_valkey_signal_swap() -> None:
    """Undo what importing django-valkey does to the whole process.

    ``django_valkey.base`` swaps Django's ``close_caches`` receiver of
    ``request_finished`` for an async one at import time, so every later
    request ends through ``async_to_sync``, which fails in a thread that runs
    an event loop (the browser tests' Playwright keeps one in the main thread
    for the session). It is imported here, once, and the swap undone: the
    tests that use django-valkey's (sync) caches do not need it, and the
    others must see Django as it is. The app itself never imports it.
    """
    try:
        from django_valkey import base
    except ImportError:
        return
    from django.core import signals
    from django.core.cache import close_caches

    if signals.request_finished.disconnect(base.close_async_caches):
        signals.request_finished.connect(close_caches)


_undo_django_valkey_signal_swap()


# SMSVERIFY["CLOCK"] = "store" (the default) lets Redis's own clock decide
# expiry and cooldowns, which a test cannot move. While a test travels in time
# with time_machine, or asks for ``app_clock``, the store uses the process's
# clock instead ("app"), as the documentation tells users' own tests to do.
_travelling = [0]


def _count_travels() -> None:
    import time_machine

    start, stop = time_machine.travel.start, time_machine.travel.stop

    def counted_start(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _travelling[0] += 1
        return start(self, *args, **kwargs)

    def counted_stop(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return stop(self, *args, **kwargs)
        finally:
            _travelling[0] -= 1

    time_machine.travel.start = counted_start
    time_machine.travel.stop = counted_stop


_count_travels()


@pytest.fixture(autouse=True)
def _app_clock_while_travelling(monkeypatch):
    from django_smsverify.conf import AppSettings

    declared = AppSettings.CLOCK

    def clock(self):  # type: ignore[no-untyped-def]
        return "app" if _travelling[0] else declared.fget(self)

    monkeypatch.setattr(AppSettings, "CLOCK", property(clock, doc=declared.__doc__))


@pytest.fixture
def app_clock(monkeypatch):
    """The store takes the process's clock (for tests that move ``time.time``)."""
    _travelling[0] += 1
    yield
    _travelling[0] -= 1


@pytest.fixture(autouse=True)
def _empty_outbox():
    django_smsverify.outbox.clear()
    yield
    django_smsverify.outbox.clear()


# Suites that start real processes (Chromium, a Celery worker, redis-servers of
# their own), wait out provider timeouts or fuzz the whole API: about two thirds
# of the suite's time. tox runs them in one env ("heavy"), not in every Python x
# Django env; a plain "pytest" runs everything.
HEAVY = (
    "tests/browser/",
    "tests/test_celery_delivery.py",
    "tests/test_memory_pressure.py",
    "tests/test_send_outcomes.py",
    "tests/test_api_fuzz.py",
    "tests/test_api_schemathesis.py",
    "tests/test_routing.py",
)


def pytest_collection_modifyitems(config, items):
    root = str(config.rootpath)
    for item in items:
        path = str(item.path)[len(root) + 1 :].replace("\\", "/")
        if path.startswith(HEAVY):
            item.add_marker(pytest.mark.heavy)
