"""Atomic verification state, kept in one Django cache alias (``SMSVERIFY["CACHE"]``).

:func:`get_store` picks the implementation: :class:`~.redis.RedisStore` (one Lua
script call per step, race-free across processes and machines) when the alias
is django-redis or Django's own ``RedisCache``; :class:`~.cache.CacheStore`
(correct within one process) for any other cache.
"""

from __future__ import annotations

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from django_smsverify.conf import app_settings
from django_smsverify.store.base import CheckResult, SendPolicy, VerificationStore

__all__ = ["CheckResult", "SendPolicy", "VerificationStore", "get_store"]


def get_store(alias: str | None = None) -> VerificationStore:
    """Return the store for the cache ``alias`` (default ``SMSVERIFY["CACHE"]``)."""
    cache = caches[alias or app_settings.CACHE]
    if isinstance(cache, DjangoRedisCache):
        from django_smsverify.store.redis import RedisStore

        # Django's RedisCache has no public way to reach the client; _cache is
        # its RedisCacheClient and get_client() returns a redis.Redis.
        return RedisStore(cache, lambda: cache._cache.get_client(None, write=True))
    client_getter = _django_redis_client(cache)
    if client_getter is not None:
        from django_smsverify.store.redis import RedisStore

        return RedisStore(cache, client_getter)
    from django_smsverify.store.cache import CacheStore

    return CacheStore(cache)


def _django_redis_client(cache: object):  # type: ignore[no-untyped-def]
    try:
        from django_redis.cache import RedisCache as DjangoRedisPackageCache
    except ImportError:
        return None
    if not isinstance(cache, DjangoRedisPackageCache):
        return None
    return lambda: cache.client.get_client(write=True)
