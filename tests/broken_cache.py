"""A Django cache backend whose every operation fails, like a cache server that is down."""

from __future__ import annotations

from django.core.cache.backends.base import BaseCache


class BrokenCache(BaseCache):
    def __init__(self, location, params):
        super().__init__(params)

    def _fail(self, *args, **kwargs):
        raise ConnectionError("cache is down")

    add = get = set = touch = delete = clear = get_many = set_many = delete_many = _fail
    has_key = incr = decr = _fail
