"""Redis Cluster for a cache alias: django-redis and Django's own ``RedisCache``.

Neither django-redis nor Django ships a cluster client, so this module does:
each builds one redis-py :class:`redis.cluster.RedisCluster` per process from
*several* startup nodes (the cache's ``LOCATION`` entries), so a process that
starts while one node is down still finds the cluster through another.

django-redis (``OPTIONS["CLIENT_CLASS"]``)::

    CACHES = {
        "smsverify": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": [
                "redis://10.0.0.11:6379",
                "redis://10.0.0.12:6379",
                "redis://10.0.0.13:6379",
            ],
            "OPTIONS": {
                "CLIENT_CLASS": "django_smsverify.cluster.ClusterClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }

Django's ``RedisCache`` (``BACKEND``)::

    CACHES = {
        "smsverify": {
            "BACKEND": "django_smsverify.cluster.RedisClusterCache",
            "LOCATION": [
                "redis://10.0.0.11:6379",
                "redis://10.0.0.12:6379",
                "redis://10.0.0.13:6379",
            ],
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

The verification store (:class:`~django_smsverify.store.redis.RedisStore`)
sees the ``RedisCluster`` and runs the steps whose keys live in several slots
in two steps (see ``docs/deployment.rst``). The cache API works as on one
server, ``get_many`` and ``set_many`` included (split by slot, so not atomic).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.exceptions import ImproperlyConfigured

from django_smsverify.exceptions import MissingDependency

try:
    from redis.cluster import ClusterNode, RedisCluster
    from redis.connection import parse_url
    from redis.exceptions import RedisClusterException, RedisError
except ImportError as exc:  # pragma: no cover - the [redis] extra is missing
    raise MissingDependency("redis", "Redis Cluster support") from exc

if TYPE_CHECKING:
    from django_redis.client import DefaultClient
    from django_redis.exceptions import ConnectionInterrupted
    from django_redis.pool import ConnectionFactory
else:
    try:
        from django_redis.client import DefaultClient
        from django_redis.exceptions import ConnectionInterrupted
        from django_redis.pool import ConnectionFactory
    except ImportError:  # Django's RedisCache needs only redis-py
        DefaultClient = ConnectionFactory = ConnectionInterrupted = None

__all__ = [
    "ClusterCacheClient",
    "ClusterClient",
    "ClusterConnectionFactory",
    "RedisClusterCache",
    "connect",
]

# One RedisCluster per process and configuration, shared by every thread: it
# is thread-safe, and each one learns the slot map with a round trip to every
# node, which per-thread clients (Django's caches are per thread) would repeat.
_clusters: dict[str, Any] = {}
_clusters_lock = threading.Lock()


def startup_nodes(urls: Iterable[str]) -> tuple[list[ClusterNode], dict[str, Any]]:
    """The nodes of ``redis://`` / ``rediss://`` URLs (each may also be a
    comma-separated list), and the connection options of the first one
    (user, password, TLS, query string), which every node shares.

    Raises ``ImproperlyConfigured`` for a database other than 0 (a cluster
    has only that one) or a unix socket.
    """
    nodes: list[ClusterNode] = []
    options: dict[str, Any] = {}
    for entry in urls:
        for url in (part.strip() for part in entry.split(",")):
            if not url:
                continue
            parsed = parse_url(url)
            if "path" in parsed:
                raise ImproperlyConfigured(f"Redis Cluster cannot use a unix socket: {url}")
            if parsed.pop("db", 0) not in (0, "0"):
                raise ImproperlyConfigured(
                    f"Redis Cluster has only database 0; drop the database number from {url}"
                )
            nodes.append(ClusterNode(parsed.pop("host", "127.0.0.1"), parsed.pop("port", 6379)))
            if len(nodes) == 1:
                options = parsed
    if not nodes:
        raise ImproperlyConfigured("a Redis Cluster cache needs at least one startup node URL")
    return nodes, options


def connect(
    urls: Iterable[str], client_class: type[Any] = RedisCluster, **kwargs: Any
) -> RedisCluster:
    """The process's ``client_class`` (a ``RedisCluster``) for the startup
    nodes ``urls`` and ``kwargs``, built on first use.

    Building it asks the startup nodes, in turn, for the slot map; when none
    answers, redis-py raises ``RedisClusterException`` and nothing is kept,
    so the next call tries again (the store answers 503 meanwhile).
    """
    urls = list(urls)
    key = repr((client_class, urls, sorted(kwargs.items(), key=lambda item: item[0])))
    client = _clusters.get(key)
    if client is not None:
        return client
    nodes, options = startup_nodes(urls)
    # Built outside the lock: with every node down each attempt waits for its
    # connect timeouts, and other threads need not queue behind it.
    built = client_class(startup_nodes=nodes, **{**options, **kwargs})
    with _clusters_lock:
        client = _clusters.setdefault(key, built)
    if client is not built:
        built.close()
    return client


class ClusterCacheClient(RedisCacheClient):
    """Django's ``RedisCacheClient`` on a ``RedisCluster``: every server of
    ``LOCATION`` is a startup node, and the options (``socket_timeout``,
    ``max_connections``, ``require_full_coverage``...) go to ``RedisCluster``.
    ``pool_class`` and ``parser_class`` do not apply (the cluster client keeps
    a pool per node)."""

    def __init__(self, servers: Sequence[str], **options: Any) -> None:
        options.pop("pool_class", None)
        super().__init__(servers, **options)
        self._pool_options.pop("parser_class", None)

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return connect(self._servers, **self._pool_options)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        keys = list(keys)
        values = self.get_client(None).mget_nonatomic(keys)
        return {
            k: self._serializer.loads(v) for k, v in zip(keys, values, strict=True) if v is not None
        }

    def set_many(self, data: dict[str, Any], timeout: int | None) -> None:
        # MSET needs its keys in one slot; single SETs in a pipeline (which
        # the cluster client splits by node) do not.
        pipeline = self.get_client(None, write=True).pipeline()
        for key, value in data.items():
            pipeline.set(key, self._serializer.dumps(value), ex=timeout)
        pipeline.execute()


class RedisClusterCache(RedisCache):
    """Django's ``RedisCache`` on a Redis Cluster; ``LOCATION`` lists startup nodes."""

    def __init__(self, server: str | Sequence[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ClusterCacheClient


if ConnectionFactory is not None:

    class ClusterConnectionFactory(ConnectionFactory):  # type: ignore[misc,valid-type]
        """django-redis connection factory that returns a ``RedisCluster``.

        :class:`ClusterClient` uses it; name it in ``OPTIONS["CONNECTION_FACTORY"]``
        only to use a subclass. The URL it is given may list several startup
        nodes, comma-separated. ``SOCKET_TIMEOUT``, ``SOCKET_CONNECT_TIMEOUT``,
        ``USERNAME``, ``PASSWORD`` and ``CONNECTION_POOL_KWARGS`` (per node:
        ``max_connections``...) apply as on one server; ``REDIS_CLIENT_KWARGS``
        go to ``RedisCluster`` itself (``require_full_coverage``...), and
        ``REDIS_CLIENT_CLASS`` may name a subclass of it.
        """

        def __init__(self, options: dict[str, Any]) -> None:
            super().__init__({"REDIS_CLIENT_CLASS": "redis.cluster.RedisCluster", **options})
            if not issubclass(self.redis_client_cls, RedisCluster):
                raise ImproperlyConfigured(
                    "ClusterConnectionFactory needs OPTIONS['REDIS_CLIENT_CLASS'] to be "
                    "redis.cluster.RedisCluster or a subclass of it"
                )

        def get_connection(self, params: dict[str, Any]) -> Any:
            kwargs = {k: v for k, v in params.items() if k not in ("url", "parser_class")}
            kwargs.update(self.pool_cls_kwargs)
            kwargs.update(self.redis_client_cls_kwargs)
            return connect([params["url"]], self.redis_client_cls, **kwargs)

        def disconnect(self, connection: Any) -> None:
            # Closes the sockets only: the client reconnects on its next use,
            # as a django-redis pool does.
            connection.disconnect_connection_pools()

    class ClusterClient(DefaultClient):  # type: ignore[misc,valid-type]
        """django-redis client for a Redis Cluster: every ``LOCATION`` entry is a
        startup node of one ``RedisCluster`` (not a primary and its replicas),
        built by :class:`ClusterConnectionFactory` unless
        ``OPTIONS["CONNECTION_FACTORY"]`` names another.
        ``get_many`` and ``set_many`` are split by slot."""

        def __init__(self, server: Any, params: dict[str, Any], backend: Any) -> None:
            options = dict(params.get("OPTIONS") or {})
            options.setdefault(
                "CONNECTION_FACTORY", "django_smsverify.cluster.ClusterConnectionFactory"
            )
            super().__init__(server, {**params, "OPTIONS": options}, backend)
            self._server = [",".join(self._server)]
            self._clients = [None]

        def connect(self, index: int = 0) -> Any:
            try:
                return super().connect(index)
            except (RedisError, RedisClusterException, OSError) as exc:
                # No startup node answered: for the cache API (and its
                # IGNORE_EXCEPTIONS) that is a server that is down.
                raise ConnectionInterrupted(connection=None) from exc

        def get_many(
            self, keys: Iterable[Any], version: int | None = None, client: Any = None
        ) -> dict[Any, Any]:
            if client is None:
                client = self.get_client(write=False)
            keys = list(keys)
            if not keys:
                return {}
            made = [self.make_key(k, version=version) for k in keys]
            try:
                values = client.mget_nonatomic(made)
            except (RedisError, RedisClusterException, OSError) as exc:
                raise ConnectionInterrupted(connection=client) from exc
            return {k: self.decode(v) for k, v in zip(keys, values, strict=True) if v is not None}

else:

    def __getattr__(name: str) -> Any:
        if name in ("ClusterConnectionFactory", "ClusterClient"):
            raise MissingDependency("redis", f"django_smsverify.cluster.{name}")
        raise AttributeError(name)
