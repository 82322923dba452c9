"""The admin's SMS traffic page in a real headless Chromium: a staff member logs
in, follows the link from the delivery records, and sees the charts drawn
(a column per day with codes sent) next to tables of the same figures; the
period filter works; axe-core finds no serious problem in the page's content;
and users who are not staff, or lack the permission, see none of it.

Saves docs/_static/screenshots/admin-sms-traffic.png (1280 px wide), shown in
docs/traffic.rst.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from playwright.sync_api import Page, expect

from tests.browser.axe import AXE_RESULTS, describe, impact_counts, run_axe
from tests.traffic_seed import SENT_DAYS_7, SENT_DAYS_30, seed, shifted

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = (
    Path(__file__).resolve().parents[2]
    / "docs"
    / "_static"
    / "screenshots"
    / "admin-sms-traffic.png"
)
PASSWORD = "Tr1cky-horse-battery"
URL = "/admin/django_smsverify/smsdelivery/stats/"


def make_user(username: str, *, staff: bool, perms: tuple[str, ...] = ()):
    user = get_user_model().objects.create_user(username, password=PASSWORD, is_staff=staff)
    for codename in perms:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_smsverify", codename=codename)
        )
    return user


def row(page: Page, caption: str, key: str) -> list[str]:
    """The cells after the heading cell ``key`` in the table captioned ``caption``."""
    table = page.locator("table", has=page.locator("caption", has_text=caption))
    line = table.locator("tr", has=page.locator("th", has_text=re.compile(f"^{re.escape(key)}$")))
    expect(line).to_have_count(1)
    return [text.strip() for text in line.locator("td").all_inner_texts()]


def column_days(page: Page, series: str) -> list[str]:
    """The days of the drawn, visible columns of ``series`` (from their tooltips)."""
    columns = page.locator(
        f"svg#smsverify-traffic-daily rect.smsverify-chart-{series}.smsverify-chart-bar"
    )
    days = []
    for i in range(columns.count()):
        box = columns.nth(i).bounding_box()
        assert box is not None and box["height"] > 0 and box["width"] > 2
        days.append(columns.nth(i).locator("title").text_content().split(":")[0])
    return days


def test_staff_see_the_traffic_charts_and_tables(page: Page, browser, live_server):
    today = dt.datetime.now(dt.timezone.utc).date()
    seed(today)
    make_user("ops", staff=True, perms=("view_smsdelivery",))

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/admin/login/?next=/admin/django_smsverify/smsdelivery/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.get_by_role("link", name="SMS traffic").click()
    expect(page).to_have_url(re.compile(re.escape(URL) + "$"))
    expect(page.locator("h1")).to_have_text("SMS traffic")

    chart = page.get_by_role("img", name="SMS codes sent and verified per day")
    expect(chart).to_be_visible()
    expected_days = [shifted(day, today) for day in SENT_DAYS_30]
    assert column_days(page, "sent") == expected_days
    assert column_days(page, "verified") == expected_days
    # Drawn to scale: today's 55 sends stand taller than the 8 of the oldest day.
    sent = page.locator("svg#smsverify-traffic-daily rect.smsverify-chart-sent.smsverify-chart-bar")
    oldest, newest = sent.first.bounding_box(), sent.last.bounding_box()
    assert newest["height"] / oldest["height"] == pytest.approx(55 / 8, rel=0.05)

    # The figures, in words, next to their labels.
    assert row(page, "Figures per day", today.isoformat()) == ["55", "2", "37", "67.3%", "7", "3"]
    assert row(page, "Figures per day", "Total") == ["125", "2", "85", "68.0%", "11", "4"]
    assert row(page, "By purpose", "login") == ["103", "0", "67", "65.0%", "7", "1"]
    assert row(page, "By region", "US") == ["5", "0", "1", "20.0%", "4", "0"]
    assert row(page, "Refused sends per limit", "cooldown") == ["7"]
    assert row(page, "Failed sends per provider and error code", "ronglian:160038") == ["1"]
    expect(page.get_by_role("img", name="Failed sends, by provider and error code")).to_be_visible()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    violations = run_axe(page, javascript=True)
    counts = impact_counts(violations)
    AXE_RESULTS.append(
        "AXE admin-sms-traffic en js 1280 " + " ".join(f"{k}={counts[k]}" for k in counts)
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, describe(bad)

    page.select_option("#id_days", "7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"days=7"))
    assert column_days(page, "sent") == [shifted(day, today) for day in SENT_DAYS_7]
    assert row(page, "Figures per day", "Total") == ["117", "2", "83", "70.9%", "11", "4"]


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def test_users_who_are_not_staff_or_lack_the_permission_see_nothing(browser, live_server):
    seed(dt.datetime.now(dt.timezone.utc).date())
    customer = make_user("customer", staff=False, perms=("view_smsdelivery",))
    clerk = make_user("clerk", staff=True)
    for user, refused in ((customer, "login"), (clerk, "403")):
        context = browser.new_context(base_url=live_server.url)
        context.add_cookies(
            [{"name": "sessionid", "value": session_of(user), "url": live_server.url}]
        )
        page = context.new_page()
        response = page.goto(URL)
        if refused == "login":
            # The admin's login form, asking for a staff account.
            expect(page).to_have_url(re.compile(r"/admin/login/\?next="))
            expect(page.locator("#id_username")).to_be_visible()
        else:
            assert response is not None and response.status == 403
        expect(page.locator("svg.smsverify-chart")).to_have_count(0)
        expect(page.get_by_text("Codes sent")).to_have_count(0)
        context.close()


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_on_a_phone_the_page_does_not_scroll_sideways(browser, live_server, lang):
    # The day table is wider than a phone: it scrolls in its own box (it used
    # to widen the whole page to 564 px at 375).
    seed(dt.datetime.now(dt.timezone.utc).date())
    make_user("ops", staff=True, perms=("view_smsdelivery",))
    context = browser.new_context(
        base_url=live_server.url,
        extra_http_headers={"Accept-Language": lang},
        viewport={"width": 375, "height": 800},
    )
    page = context.new_page()
    try:
        page.goto("/admin/login/?next=" + URL)
        page.fill("#id_username", "ops")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("h1")).to_have_text("SMS traffic" if lang == "en" else "短信流量")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        table = page.get_by_role("region", name=re.compile("Figures per day|每日数据"))
        expect(table).to_be_visible()
    finally:
        context.close()
