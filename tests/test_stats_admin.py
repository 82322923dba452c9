"""The admin's SMS traffic page: who may see it, what it shows, its filters,
and what it says when there is nothing to show or the store is down."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import caches
from django.urls import reverse

from django_smsverify import stats
from tests.conftest import DOWN_CACHE_CONFIGS
from tests.traffic_seed import (
    NOW,
    SENT_DAYS_7,
    SENT_DAYS_30,
    TENCENT_LIMIT,
    rows_by_key,
    seed,
    tables,
)

pytestmark = pytest.mark.django_db

URL = "/admin/django_smsverify/smsdelivery/stats/"
HEADINGS = ["Codes sent", "Notices", "Codes verified", "Conversion", "Refused", "Failed"]


@pytest.fixture(autouse=True)
def clock():
    # LocMem outlives a test: the counters of one must not show in the next.
    caches["default"].clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
    caches["default"].clear()


def make_user(username: str, *, staff: bool, perms: tuple[str, ...] = ()):
    user = get_user_model().objects.create_user(username, password="x", is_staff=staff)
    for codename in perms:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_smsverify", codename=codename)
        )
    return user


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("ops", staff=True, perms=("view_smsdelivery",)))
    return client


def svg_of(html: str, chart_id: str) -> ET.Element:
    match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.DOTALL)
    assert match, f"no chart {chart_id}"
    return ET.fromstring(match.group(0))  # noqa: S314 - the app's own markup


def bar_days(svg: ET.Element, series: str) -> list[str]:
    """The days (from their tooltips) of the columns of ``series``."""
    ns = "{http://www.w3.org/2000/svg}"
    return [
        rect.find(f"{ns}title").text.split(":")[0]
        for rect in svg.iter(f"{ns}rect")
        if f"smsverify-chart-{series}" in rect.get("class", "")
        and "smsverify-chart-bar" in rect.get("class", "")
    ]


def test_the_url_is_named_and_the_delivery_list_links_to_it(admin_client):
    assert reverse("admin:django_smsverify_smsdelivery_stats") == URL
    page = admin_client.get("/admin/django_smsverify/smsdelivery/")
    assert page.status_code == 200
    assert f'href="{URL}"' in page.content.decode()


def test_staff_see_the_figures_of_the_last_30_days(store_cache, staff_client):
    seed()
    page = staff_client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<title>SMS traffic |" in html

    chart = svg_of(html, "smsverify-traffic-daily")
    assert chart.get("role") == "img"
    assert bar_days(chart, "sent") == SENT_DAYS_30
    assert bar_days(chart, "verified") == SENT_DAYS_30
    assert (
        "125 sent, 85 verified, conversion 68.0%"
        in chart.find("{http://www.w3.org/2000/svg}desc").text
    )

    found = tables(html)
    daily = found["Figures per day, newest first"]
    assert daily[0] == ["Day (UTC)", *HEADINGS]
    assert len(daily) == 1 + 30 + 1  # headings, 30 days, total
    days = rows_by_key(daily)
    assert days["2025-05-07"] == ["55", "2", "37", "67.3%", "7", "3"]
    assert days["2025-05-04"] == ["0", "0", "0", "–", "0", "0"]
    assert days["2025-04-20"] == ["8", "0", "2", "25.0%", "0", "0"]
    assert "2025-04-07" not in days and "2025-04-08" in days
    assert days["Total"] == ["125", "2", "85", "68.0%", "11", "4"]

    assert rows_by_key(found["By purpose"]) == {
        "register": ["10", "2", "6", "60.0%", "4", "3"],
        "login": ["103", "0", "67", "65.0%", "7", "1"],
        "reset_password": ["12", "0", "12", "100.0%", "0", "0"],
    }
    assert rows_by_key(found["By region"]) == {
        "CN": ["120", "2", "84", "70.0%", "7", "4"],
        "US": ["5", "0", "1", "20.0%", "4", "0"],
    }
    assert rows_by_key(found["Refused sends per limit"]) == {
        "cooldown": ["7"],
        "guard:prefix_burst": ["4"],
    }
    assert rows_by_key(found["Failed sends per provider and error code"]) == {
        TENCENT_LIMIT: ["3"],
        "ronglian:160038": ["1"],
    }
    refused = svg_of(html, "smsverify-traffic-refused")
    failed = svg_of(html, "smsverify-traffic-failed")
    assert refused.get("role") == failed.get("role") == "img"
    assert TENCENT_LIMIT in ET.tostring(failed, encoding="unicode")


def test_superusers_see_the_page(admin_client):
    seed()
    assert admin_client.get(URL).status_code == 200


def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login(client):
    seed()
    for user in (None, make_user("customer", staff=False, perms=("view_smsdelivery",))):
        if user is not None:
            client.force_login(user)
        page = client.get(URL)
        assert page.status_code == 302
        assert page["Location"].startswith("/admin/login/?next=")
        assert "Codes sent" not in page.content.decode()


def test_staff_without_the_view_permission_are_refused(client):
    seed()
    client.force_login(make_user("clerk", staff=True, perms=("delete_smsdelivery",)))
    page = client.get(URL)
    assert page.status_code == 403
    assert "Codes sent" not in page.content.decode()


def test_the_last_7_days(staff_client):
    seed()
    html = staff_client.get(URL, {"days": "7"}).content.decode()
    assert bar_days(svg_of(html, "smsverify-traffic-daily"), "sent") == SENT_DAYS_7
    days = rows_by_key(tables(html)["Figures per day, newest first"])
    assert len(days) == 7 + 1
    assert "2025-04-30" not in days and "2025-05-01" in days
    assert days["Total"] == ["117", "2", "83", "70.9%", "11", "4"]
    assert '<option value="7" selected>' in html


def test_one_purpose_or_one_region(staff_client):
    seed()
    html = staff_client.get(URL, {"purpose": "register"}).content.decode()
    found = tables(html)
    assert rows_by_key(found["Figures per day, newest first"])["Total"] == [
        "10", "2", "6", "60.0%", "4", "3",
    ]  # fmt: skip
    assert list(rows_by_key(found["By purpose"])) == ["register"]
    assert '<option value="register" selected>' in html
    assert '<option value="30" selected>' in html

    html = staff_client.get(URL, {"region": "us"}).content.decode()
    found = tables(html)
    assert list(rows_by_key(found["By region"])) == ["US"]
    assert rows_by_key(found["Refused sends per limit"]) == {"guard:prefix_burst": ["4"]}
    assert "Failed sends per provider and error code" not in found
    assert "No send failed." in html
    assert bar_days(svg_of(html, "smsverify-traffic-daily"), "sent") == ["2025-05-07"]

    html = staff_client.get(URL, {"region": "FR"}).content.decode()
    assert "No SMS traffic was counted for these filters in this period." in html


def test_a_filter_that_makes_no_sense_is_said_so_and_everything_shown(staff_client):
    seed()
    html = staff_client.get(URL, {"purpose": "<b>bogus</b>"}).content.decode()
    assert "Select a valid choice" in html
    assert "<b>bogus</b>" not in html
    totals = rows_by_key(tables(html)["Figures per day, newest first"])["Total"]
    assert totals[0] == "125"


def test_counted_texts_are_escaped(staff_client):
    stats.record("failed", purpose="login", region="CN", detail='x:<img src=x onerror="1">')
    html = staff_client.get(URL).content.decode()
    assert "<img src=x" not in html
    assert rows_by_key(tables(html)["Failed sends per provider and error code"]) == {
        'x:<img src=x onerror="1">': ["1"]
    }
    svg_of(html, "smsverify-traffic-failed")  # still well-formed


def test_nothing_counted(staff_client):
    html = staff_client.get(URL).content.decode()
    assert "No SMS traffic was counted in this period." in html
    assert "smsverify-chart" not in html
    assert "Counting is off" not in html


def test_counting_off_is_said(staff_client, settings):
    settings.SMSVERIFY = {"STATS": False}
    html = staff_client.get(URL).content.decode()
    assert "Counting is off (SMSVERIFY['STATS'] is False)" in html
    assert "No SMS traffic was counted in this period." in html


@pytest.mark.parametrize("cache", ["broken", "redis"])
def test_a_store_that_does_not_answer_is_said_not_a_500(staff_client, settings, cache):
    config = (
        {"BACKEND": "tests.broken_cache.BrokenCache"}
        if cache == "broken"
        else DOWN_CACHE_CONFIGS["redis"]
    )
    settings.CACHES = {**settings.CACHES, "stats": config}
    settings.SMSVERIFY = {"CACHE": "stats"}
    page = staff_client.get(URL)
    assert page.status_code == 503
    html = page.content.decode()
    assert "is not answering, so the figures cannot be read" in html
    assert "smsverify-chart" not in html
    # The page is still the admin's, with its filters.
    assert 'name="days"' in html and "Log out" in html
