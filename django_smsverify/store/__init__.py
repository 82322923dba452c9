"""Atomic verification state, kept in one Django cache alias (``SMSVERIFY["CACHE"]``).

:func:`get_store` picks the implementation: :class:`~.redis.RedisStore` (one Lua
script call per step, race-free across processes and machines) when the alias
is django-redis, Django's own ``RedisCache`` or django-valkey (standalone,
Sentinel or cluster); :class:`~.cache.CacheStore` (correct within one
process only) for any other cache. :func:`is_atomic` tells which from the
backend class alone (``smsverify.W015`` warns about a shared cache that is not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from django_smsverify.conf import app_settings
from django_smsverify.store.base import CheckResult, SendPolicy, VerificationStore

__all__ = ["CheckResult", "SendPolicy", "VerificationStore", "get_store", "is_atomic"]


def get_store(alias: str | None = None) -> VerificationStore:
    """Return the store for the cache ``alias`` (default ``SMSVERIFY["CACHE"]``)."""
    cache = caches[alias or app_settings.CACHE]
    client_getter = _script_client(cache)
    if client_getter is not None:
        from django_smsverify.store.redis import RedisStore

        return RedisStore(cache, client_getter)
    from django_smsverify.store.cache import CacheStore

    return CacheStore(cache)


def is_atomic(backend: type) -> bool:
    """Whether a cache of class ``backend`` gets the atomic script store.

    Only the class is looked at, so a deployment check can ask about a cache
    whose server is down or whose client library is missing.
    """
    return _family(backend) is not None


def _family(backend: type) -> str | None:
    """Which Redis client library ``backend`` (a cache class) is built on, if any."""
    if issubclass(backend, DjangoRedisCache):
        return "django"
    try:
        from django_redis.cache import RedisCache as DjangoRedisPackageCache
    except ImportError:
        pass
    else:
        if issubclass(backend, DjangoRedisPackageCache):
            return "django-redis"
    # django-valkey is recognised by its classes' names, never imported here:
    # importing django_valkey.base swaps Django's close_caches receiver of
    # request_finished for an async one, which puts every request's end of
    # every site that merely has the package installed through
    # async_to_sync (and fails in a thread that runs an event loop).
    names = {(cls.__module__, cls.__qualname__) for cls in backend.__mro__}
    if ("django_valkey.base", "BaseValkeyCache") not in names:
        return None
    # The asyncio cache is left out: the store's steps are synchronous calls.
    if any(module.startswith("django_valkey.async_cache") for module, _name in names):
        return None
    return "django-valkey"


def _script_client(cache: Any) -> Callable[[], Any] | None:
    """A function returning the raw client that runs the store's scripts on
    ``cache`` (a redis-py or valkey-py client), or ``None`` when it cannot."""
    family = _family(type(cache))
    if family == "django":
        # Django's RedisCache has no public way to reach the client; _cache is
        # its RedisCacheClient and get_client() returns a redis.Redis.
        return lambda: cache._cache.get_client(None, write=True)
    if family is not None:
        # django-redis and django-valkey: a redis.Redis or valkey.Valkey (or
        # their cluster clients), on the master where there is a choice.
        return lambda: cache.client.get_client(write=True)
    return None
