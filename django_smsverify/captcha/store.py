"""Captcha entries in their cache: put, read, and read-and-delete.

They live in ``SMSVERIFY["CAPTCHA_CACHE"]``, by default the verification
cache (``SMSVERIFY["CACHE"]``). Anyone can create challenges, so a site whose
verification Redis runs ``noeviction`` can give them a cache of their own
that may evict (see ``docs/deployment.rst``): a flood of challenges then
neither fills the server that holds codes, cooldowns and quotas nor makes it
evict them.

The same split as :mod:`django_smsverify.store`: on Redis each step is one Lua
script call (so the read and the delete of :func:`pop` cannot interleave with
another caller's, across processes and machines); on any other cache a process
lock makes :func:`pop` atomic within one process.

Entries carry their expiry in the app's clock, and also get a cache TTL so no
key outlives its use. Store errors become
:class:`~django_smsverify.exceptions.ServiceUnavailable`: a check never passes
without the store.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from django_smsverify.conf import app_settings
from django_smsverify.exceptions import ServiceUnavailable
from django_smsverify.store import VerificationStore, get_store
from django_smsverify.store.redis import RedisStore, _Script

logger = logging.getLogger("django_smsverify.captcha")

_lock = threading.Lock()

# KEYS: entry    ARGV: now, value ("<answer hash>:<expires_ms>"), ttl_ms
_PUT = _Script("redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1")
# KEYS: entry. GET alone; a script only so that errors are handled as for the
# others. Read-only, so it still runs while the server is out of memory.
_PEEK = _Script("return redis.call('GET', KEYS[1])", read_only=True)
# KEYS: entry. GET then DEL in one script: of many concurrent callers exactly
# one gets the value (GETDEL would do the same, but needs Redis 6.2).
_POP = _Script(
    "local v = redis.call('GET', KEYS[1]) if v then redis.call('DEL', KEYS[1]) end return v"
)


def put(key: str, answer_hash: str, expires_ms: int, now_ms: int) -> None:
    """Store ``answer_hash`` under ``key`` until ``expires_ms``."""
    ttl_ms = max(1, expires_ms - now_ms)
    backend = _backend()
    if isinstance(backend, RedisStore):
        # _run applies the cache's KEY_PREFIX/VERSION and turns connection
        # errors into ServiceUnavailable, exactly as for the code store.
        backend._run(_PUT, [key], [now_ms, f"{answer_hash}:{expires_ms}", ttl_ms])
        return
    with _lock:
        _cache_call(backend.cache.set, key, (answer_hash, expires_ms), math.ceil(ttl_ms / 1000))


def peek(key: str, now_ms: int) -> str | None:
    """The live answer hash under ``key``, or ``None``. Leaves the entry in place."""
    backend = _backend()
    if isinstance(backend, RedisStore):
        return _parse_redis(backend._run(_PEEK, [key], [now_ms]), now_ms)
    return _parse_tuple(_cache_call(backend.cache.get, key), now_ms)


def pop(key: str, now_ms: int) -> str | None:
    """Delete the entry under ``key`` and return its answer hash if it was live.

    Atomic: of any number of concurrent calls for one key, at most one gets a
    value.
    """
    backend = _backend()
    if isinstance(backend, RedisStore):
        return _parse_redis(backend._run(_POP, [key], [now_ms]), now_ms)
    # The Django cache API has no get-and-delete; the lock makes the pair
    # atomic within this process (see smsverify.W004 for multi-process sites).
    with _lock:
        value = _cache_call(backend.cache.get, key)
        if value is not None:
            _cache_call(backend.cache.delete, key)
    return _parse_tuple(value, now_ms)


def _backend() -> VerificationStore:
    return get_store(app_settings.CAPTCHA_CACHE)


def _parse_redis(raw: Any, now_ms: int) -> str | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    answer_hash, _, expires = text.partition(":")
    if not expires.isdigit() or int(expires) <= now_ms:
        return None
    return answer_hash


def _parse_tuple(value: Any, now_ms: int) -> str | None:
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)):
        return None
    answer_hash, expires = value
    return answer_hash if expires > now_ms else None


def _cache_call(method: Any, *args: Any) -> Any:
    try:
        return method(*args)
    except Exception as exc:
        logger.error("captcha store unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable() from exc
