"""Changing the phone number in a real headless Chromium: the current
password is asked for, a wrong one is reported next to its field, and the
change logs out the user's other browser while this one stays logged in."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from django_smsverify.models import PhoneNumber
from tests.browser.test_flows import request_code
from tests.helpers import last_code

PHONE = "+8613800138000"
NEW = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page):
    page.goto("/accounts/phone/login/?method=password")
    page.fill("input[name=phone]", "13800138000")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[value=submit]")
    expect(page).to_have_url(re.compile(r"/welcome/$"))


def test_wrong_password_shows_at_its_field_and_the_change_logs_out_other_browsers(
    page, browser, live_server
):
    user = get_user_model().objects.create_user(username="member", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    other = browser.new_context(base_url=live_server.url).new_page()
    log_in(other)
    log_in(page)

    page.goto("/accounts/phone/change/")
    password_field = page.locator(".smsverify-field", has=page.locator("[name=current_password]"))
    expect(password_field.get_by_label("Current password")).to_be_visible()
    request_code(page, phone="139 0013 9000")
    expect(page.locator("[data-smsverify-status]")).to_contain_text("Code sent")
    page.fill("input[name=code]", last_code(NEW))
    page.fill("input[name=current_password]", "not-my-password")
    page.click("button[value=submit]")
    expect(password_field.get_by_text("The password is incorrect.")).to_be_visible()
    code_field = page.locator(".smsverify-field", has=page.locator("input[name=code]"))
    expect(code_field.get_by_text("The password is incorrect.")).to_have_count(0)

    page.fill("input[name=code]", last_code(NEW))
    page.fill("input[name=current_password]", PASSWORD)
    page.click("button[value=submit]")
    expect(page.get_by_text("Your phone number has been changed.")).to_be_visible()

    page.goto("/welcome/")
    expect(page.locator("#phone")).to_have_text(NEW)
    other.goto("/welcome/")
    expect(other.locator("#who")).to_have_text("anonymous")
    other.context.close()
