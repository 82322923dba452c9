"""The SMS traffic counters for Prometheus (``pip install "django-smsverify[prometheus]"``).

:class:`SmsTrafficCollector` reads :mod:`django_smsverify.stats` from the
verification store at each scrape (two reads, one round trip each) and
exposes them as gauges labelled ``event``, ``purpose``, ``region`` and
``detail`` (the limit of a refusal, ``provider:code`` of a failure):

- ``smsverify_events_today``: so far in the current UTC day;
- ``smsverify_events_this_hour``: so far in the current UTC hour;
- ``smsverify_events_previous_hour``: in the UTC hour before it, complete;
- ``smsverify_stats_store_up``: 1 when the store answered, else 0 (and no
  event series), so a scrape never fails because the store is down.

Gauges, not counters: the store's figures go back to zero when a UTC day or
hour begins, and a send counted then given back (a cooldown refused it, the
provider failed) lowers them by one; Prometheus's ``rate()`` would take
either for a restart. Use them as they are (``smsverify_events_previous_hour
{event="failed"} > 20``), or divide them (conversion is ``verified`` ÷
``sent``).

Serve them with :class:`MetricsView` (a URL of their own, for staff or a
scraper with a bearer token), or add them to a registry the site already
exposes with :func:`register`.
"""

from __future__ import annotations

import hmac
import logging
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth import get_permission_codename
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from django_smsverify import stats
from django_smsverify.exceptions import MissingDependency

try:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import Collector
except ImportError as exc:
    raise MissingDependency("prometheus", "The Prometheus collector") from exc

__all__ = ["MetricsView", "SmsTrafficCollector", "metrics_response", "register"]

logger = logging.getLogger("django_smsverify.contrib.prometheus")

LABELS = ("event", "purpose", "region", "detail")

_GAUGES = (
    ("smsverify_events_today", "SMS verification events so far in the current UTC day."),
    ("smsverify_events_this_hour", "SMS verification events so far in the current UTC hour."),
    (
        "smsverify_events_previous_hour",
        "SMS verification events in the UTC hour before the current one.",
    ),
)
_UP = (
    "smsverify_stats_store_up",
    "1 when the verification store answered this scrape's read of the SMS counters, else 0.",
)


class SmsTrafficCollector(Collector):
    """A Prometheus collector of the SMS traffic counters (see the module)."""

    def describe(self) -> Iterable[Metric]:
        # Registering asks for the names; without this it would collect, and
        # read the store, when the registry is built (at start-up, say).
        yield GaugeMetricFamily(*_UP)
        for name, documentation in _GAUGES:
            yield GaugeMetricFamily(name, documentation, labels=LABELS)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(*_UP)
        try:
            today = stats.days(1)[0]
            previous_hour, this_hour = stats.hours(2)
        except Exception:
            # Every other metric of the registry would go with an exception.
            logger.exception("could not read the SMS traffic counters")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for (name, documentation), period in zip(
            _GAUGES, (today, this_hour, previous_hour), strict=True
        ):
            gauge = GaugeMetricFamily(name, documentation, labels=LABELS)
            for count in period.counts:
                gauge.add_metric(
                    [count.event, count.purpose, count.region, count.detail], count.count
                )
            yield gauge


_registered: weakref.WeakKeyDictionary[CollectorRegistry, SmsTrafficCollector] = (
    weakref.WeakKeyDictionary()
)


def register(registry: CollectorRegistry | None = None) -> SmsTrafficCollector:
    """Add a :class:`SmsTrafficCollector` to ``registry`` (default:
    ``prometheus_client.REGISTRY``), once: a second call returns the first
    collector. Call it from an ``AppConfig.ready()``."""
    registry = REGISTRY if registry is None else registry
    collector = _registered.get(registry)
    if collector is None:
        collector = SmsTrafficCollector()
        registry.register(collector)
        _registered[registry] = collector
    return collector


_own_registry: CollectorRegistry | None = None


def traffic_registry() -> CollectorRegistry:
    """A registry of the SMS traffic counters alone (what :class:`MetricsView` serves)."""
    global _own_registry
    if _own_registry is None:
        registry = CollectorRegistry(auto_describe=True)
        register(registry)
        _own_registry = registry
    return _own_registry


def metrics_response(
    request: HttpRequest | None = None, registry: CollectorRegistry | None = None
) -> HttpResponse:
    """The exposition of ``registry`` (default: :func:`traffic_registry`), in
    the format the ``Accept`` header of ``request`` asks for (Prometheus text,
    or OpenMetrics)."""
    accept = request.headers.get("Accept", "") if request is not None else ""
    encoder, content_type = choose_encoder(accept)
    body = encoder(traffic_registry() if registry is None else registry)
    return HttpResponse(body, content_type=content_type)


@method_decorator(never_cache, name="dispatch")
class MetricsView(View):
    """Serve the SMS traffic metrics to staff with the view permission on
    delivery records (a browser logged in to the admin), and to a scraper that
    sends ``Authorization: Bearer <token>`` when a ``token`` is given::

        path("metrics/smsverify/", MetricsView.as_view(token=os.environ["METRICS_TOKEN"]))

    An empty ``token`` lets no scraper in. Anyone else gets 401 (with a
    token) or 403. ``registry`` serves another registry instead of the
    counters alone.
    """

    token: str | None = None
    registry: CollectorRegistry | None = None
    http_method_names = ["get", "head"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.bearer_ok(request) or self.staff_ok(request):
            return metrics_response(request, self.registry)
        if self.token:
            response = HttpResponse(status=401)
            response["WWW-Authenticate"] = 'Bearer realm="smsverify"'
            return response
        return HttpResponse(status=403)

    def bearer_ok(self, request: HttpRequest) -> bool:
        """Whether ``request`` carries this view's bearer token."""
        if not self.token:
            return False
        scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def staff_ok(self, request: HttpRequest) -> bool:
        """Whether ``request``'s user may see the admin's *SMS traffic* page."""
        from django_smsverify.models import SmsDelivery

        user = getattr(request, "user", None)
        if user is None or not (user.is_active and user.is_staff):
            return False
        opts = SmsDelivery._meta
        return bool(user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}"))
