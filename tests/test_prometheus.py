"""The Prometheus collector and view (django_smsverify.contrib.prometheus), with
the real prometheus_client: the exposition is parsed back as a scraper would."""

from __future__ import annotations

import datetime as dt
import importlib
import sys

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import caches
from django.test import RequestFactory
from django.urls import path
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from django_smsverify import stats
from django_smsverify.contrib import prometheus
from django_smsverify.exceptions import MissingDependency
from tests.conftest import DOWN_CACHE_CONFIGS
from tests.traffic_seed import NOW, TENCENT_LIMIT, seed

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

TOKEN = "scrape-token-for-tests"

urlpatterns = [
    path("metrics/", prometheus.MetricsView.as_view(token=TOKEN)),
    path("staff-metrics/", prometheus.MetricsView.as_view()),
]


@pytest.fixture(autouse=True)
def clock():
    caches["default"].clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
    caches["default"].clear()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found, name: str, **labels: str) -> float | None:
    full = {"event": "", "purpose": "", "region": "", "detail": "", **labels}
    return found.get((name, tuple(sorted(full.items()))))


def scrape(client, url: str = "/metrics/", **headers: str):
    return client.get(url, headers={"Authorization": f"Bearer {TOKEN}", **headers})


def test_a_scraper_with_the_token_reads_todays_and_this_hours_figures(store_cache, client):
    seed()
    # An hour earlier than the seed's 10:00, and one in the hour now.
    stats.record("sent", purpose="login", region="CN", count=3, when=NOW - dt.timedelta(hours=3))
    stats.record("sent", purpose="login", region="CN", count=2)
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response["Cache-Control"].startswith("max-age=0")
    text = response.content.decode()
    assert "# TYPE smsverify_events_today gauge" in text
    found = samples(text)
    assert found[("smsverify_stats_store_up", ())] == 1
    today = "smsverify_events_today"
    assert value(found, today, event="sent", purpose="login", region="CN") == 45
    assert value(found, today, event="verified", purpose="login", region="CN") == 30
    assert value(found, today, event="notice", purpose="register", region="CN") == 2
    assert (
        value(found, today, event="refused", purpose="login", region="CN", detail="cooldown") == 7
    )
    assert (
        value(found, today, event="failed", purpose="register", region="CN", detail=TENCENT_LIMIT)
        == 3
    )
    # Yesterday is not today.
    assert value(found, today, event="refused", purpose="register", region="US") is None
    assert (
        sum(v for (name, _l), v in found.items() if name == today)
        == 45 + 30 + 10 + 6 + 2 + 5 + 1 + 7 + 3
    )
    # 12:00 now: this hour has the 2 just counted, the one before nothing.
    this_hour = {k: v for k, v in found.items() if k[0] == "smsverify_events_this_hour"}
    assert list(this_hour.values()) == [2]
    assert value(found, "smsverify_events_previous_hour", event="sent", purpose="login") is None


def test_the_previous_hour_is_the_whole_hour_before(client, clock):
    stats.record("sent", purpose="login", region="CN", count=5)
    clock.shift(dt.timedelta(minutes=70))
    stats.record("sent", purpose="login", region="CN", count=1)
    found = samples(scrape(client).content.decode())
    labels = {"event": "sent", "purpose": "login", "region": "CN"}
    assert value(found, "smsverify_events_previous_hour", **labels) == 5
    assert value(found, "smsverify_events_this_hour", **labels) == 1
    assert value(found, "smsverify_events_today", **labels) == 6


def test_openmetrics_when_asked(client):
    seed()
    response = scrape(client, Accept="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


def make_user(username: str, *, staff: bool, perms: tuple[str, ...] = ()):
    user = get_user_model().objects.create_user(username, password="x", is_staff=staff)
    for codename in perms:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_smsverify", codename=codename)
        )
    return user


def test_who_may_read_the_metrics(client):
    seed()
    # No token, a wrong one, another scheme: 401 and how to authenticate.
    for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = client.get("/metrics/", headers=header)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"smsverify_events" not in response.content
    # Without a token configured nobody gets in with one.
    assert scrape(client, "/staff-metrics/").status_code == 403
    # Staff with the view permission do, by their session.
    client.force_login(make_user("clerk", staff=True))
    assert client.get("/staff-metrics/").status_code == 403
    client.force_login(make_user("customer", staff=False, perms=("view_smsdelivery",)))
    assert client.get("/staff-metrics/").status_code == 403
    client.force_login(make_user("ops", staff=True, perms=("view_smsdelivery",)))
    for url in ("/staff-metrics/", "/metrics/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"smsverify_events_today" in response.content


def test_an_empty_token_lets_no_scraper_in(client):
    view = prometheus.MetricsView.as_view(token="")
    request = RequestFactory().get("/", headers={"Authorization": "Bearer "})
    request.user = get_user_model()()  # not staff
    assert view(request).status_code == 403


@pytest.mark.parametrize("cache", ["broken", "redis"])
def test_a_store_that_does_not_answer_is_a_metric_not_a_failed_scrape(client, settings, cache):
    config = (
        {"BACKEND": "tests.broken_cache.BrokenCache"}
        if cache == "broken"
        else DOWN_CACHE_CONFIGS["redis"]
    )
    settings.CACHES = {**settings.CACHES, "stats": config}
    settings.SMSVERIFY = {"CACHE": "stats"}
    response = scrape(client)
    assert response.status_code == 200
    found = samples(response.content.decode())
    assert found == {("smsverify_stats_store_up", ()): 0}


def test_register_adds_the_collector_once_without_reading_the_store(settings):
    # Registering happens at start-up, maybe before the store answers.
    settings.CACHES = {**settings.CACHES, "stats": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    settings.SMSVERIFY = {"CACHE": "stats"}
    registry = CollectorRegistry()
    Gauge("site_own_metric", "A metric of the site's own.", registry=registry).set(7)
    collector = prometheus.register(registry)
    assert prometheus.register(registry) is collector

    settings.SMSVERIFY = {}
    seed()
    found = samples(generate_latest(registry).decode())
    assert found[("site_own_metric", ())] == 7
    assert value(found, "smsverify_events_today", event="sent", purpose="login", region="CN") == 40


def test_without_the_extra_the_import_names_the_pip_install_line(monkeypatch):
    monkeypatch.delitem(sys.modules, "django_smsverify.contrib.prometheus")
    for name in [n for n in sys.modules if n.startswith("prometheus_client")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingDependency) as excinfo:
        importlib.import_module("django_smsverify.contrib.prometheus")
    assert excinfo.value.extra == "prometheus"
    assert 'pip install "django-smsverify[prometheus]"' in str(excinfo.value)
