"""A newcomer's whole path, and the error states, in a real headless Chromium.

The captcha runs in test mode (answer "PASSED"); codes are read from
django_smsverify.outbox, as a site's own tests would.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.helpers import last_code, wrong_code

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"

pytestmark = pytest.mark.django_db(transaction=True)


def request_code(page, phone="138 0013 8000"):
    """Type the number, press Send code, solve the captcha it reveals, press again."""
    page.fill("input[name=phone]", phone)
    send = page.locator("[data-smsverify-send-button]")
    send.click()
    answer = page.locator("[data-smsverify-captcha-answer]")
    expect(answer).to_be_visible()
    answer.fill("PASSED")
    send.click()


def expect_countdown(page):
    send = page.locator("[data-smsverify-send-button]")
    expect(send).to_be_disabled()
    expect(send).to_have_text(re.compile(r"Resend in \d+ s"))


def test_newcomer_registers_logs_out_logs_in_by_sms_and_resets_password(page):
    # Sign up.
    page.goto("/accounts/phone/register/")
    request_code(page)
    expect(page.locator("[data-smsverify-status]")).to_contain_text("Code sent")
    expect_countdown(page)

    page.reload()  # the countdown survives a reload
    expect_countdown(page)

    page.fill("input[name=code]", last_code(PHONE))
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[value=submit]")
    expect(page).to_have_url(re.compile(r"/welcome/$"))
    expect(page.locator("#phone")).to_have_text(PHONE)

    # Log out.
    page.click("#logout")
    page.goto("/welcome/")
    expect(page.locator("#who")).to_have_text("anonymous")

    # Log in by SMS (a fresh page: the register countdown is per purpose).
    page.goto("/accounts/phone/login/")
    request_code(page)
    expect(page.locator("[data-smsverify-status]")).to_contain_text("Code sent")
    page.fill("input[name=code]", last_code(PHONE))
    page.click("button[value=submit]")
    expect(page.locator("#phone")).to_have_text(PHONE)
    page.click("#logout")

    # Reset the password, then log in with it.
    new_password = "Another-long-passphrase-42"
    page.goto("/accounts/phone/password/reset/")
    request_code(page)
    expect(page.locator("[data-smsverify-status]")).to_contain_text("Code sent")
    page.fill("input[name=code]", last_code(PHONE))
    page.fill("input[name=password1]", new_password)
    page.fill("input[name=password2]", new_password)
    page.click("button[value=submit]")
    expect(page.get_by_text("Your password has been changed")).to_be_visible()

    page.goto("/accounts/phone/login/?method=password")
    page.fill("input[name=phone]", "13800138000")
    page.fill("input[name=password]", new_password)
    page.click("button[value=submit]")
    expect(page.locator("#phone")).to_have_text(PHONE)


def test_unconfirmed_sms_says_the_code_may_still_arrive_and_it_works(page, settings):
    # The provider took the SMS but its answer never came (a read timeout).
    settings.SMS_BACKEND = "tests.failing_backend.UnconfirmedBackend"
    page.goto("/accounts/phone/register/")
    request_code(page)
    status = page.locator("[data-smsverify-status]")
    expect(status).to_contain_text("We could not confirm that the text message was sent.")
    expect(status).to_contain_text("The code may still arrive and will work")
    expect_countdown(page)
    page.fill("input[name=code]", last_code(PHONE))
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[value=submit]")
    expect(page).to_have_url(re.compile(r"/welcome/$"))
    expect(page.locator("#phone")).to_have_text(PHONE)


def test_wrong_code_then_too_many_attempts(page):
    page.goto("/accounts/phone/register/")
    request_code(page)
    expect(page.locator("[data-smsverify-status]")).to_contain_text("Code sent")
    bad = wrong_code(last_code(PHONE))
    for attempt in range(5):
        page.fill("input[name=code]", bad)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.click("button[value=submit]")
        if attempt == 0:
            expect(page.get_by_text("The verification code is incorrect.")).to_be_visible()
    expect(page.get_by_text("Too many incorrect codes")).to_be_visible()
    assert not get_user_model().objects.exists()


def test_resend_too_soon_shows_the_server_error_and_counts_down(page, browser, live_server):
    page.goto("/accounts/phone/register/")
    request_code(page)
    expect_countdown(page)
    # A second tab without the saved countdown: the server refuses, in place.
    other = page.context.browser.new_context(base_url=live_server.url).new_page()
    other.goto("/accounts/phone/register/")
    request_code(other)
    expect(
        other.get_by_text(re.compile(r"You can ask for another code in \d+ seconds"))
    ).to_be_visible()
    expect_countdown(other)
    other.context.close()


def test_invalid_number_is_caught_before_any_request(page):
    page.goto("/accounts/phone/register/")
    page.fill("input[name=phone]", "hello")
    page.click("[data-smsverify-send-button]")
    expect(page.get_by_text("Enter a valid mobile phone number.")).to_be_visible()
    expect(page.locator("[data-smsverify-captcha-answer]")).to_be_hidden()


def test_server_field_errors_show_in_place(page):
    page.goto("/accounts/phone/register/")
    # Passes the browser's check (11 digits, 1 then 3-9), but no such mobile range exists.
    request_code(page, phone="148 0013 8000")
    expect(page.get_by_text("Enter a valid mobile phone number.")).to_be_visible()


def test_every_form_posts_without_javascript(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/accounts/phone/register/")
    page.fill("input[name=phone]", "13800138000")
    page.fill("[data-smsverify-captcha-answer]", "PASSED")
    page.click("[data-smsverify-send-button]")
    expect(page.get_by_text("Code sent to 138****8000")).to_be_visible()
    page.fill("input[name=code]", last_code(PHONE))
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[value=submit]")
    expect(page.locator("#phone")).to_have_text(PHONE)
    context.close()


def test_without_enumeration_prevention_the_form_says_so_on_blur(page, settings):
    from django_smsverify.adapter import get_adapter
    from django_smsverify.models import PhoneNumber

    settings.SMSVERIFY = {
        "PREVENT_ENUMERATION": False,
        "CAPTCHA": {"TEST_MODE": True, "TEST_ANSWER": "PASSED"},
    }
    user = get_adapter().create_user(None, PHONE, PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)

    page.goto("/accounts/phone/register/")
    page.fill("input[name=phone]", "138 0013 8000")
    page.locator("input[name=code]").focus()
    expect(page.get_by_text("This number is already registered. Log in instead.")).to_be_visible()

    page.goto("/accounts/phone/login/")
    page.fill("input[name=phone]", "139 0013 9000")
    page.locator("input[name=code]").focus()
    expect(page.get_by_text("No account uses this number.")).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize(
    "path",
    ["/accounts/phone/register/", "/accounts/phone/login/", "/accounts/phone/password/reset/"],
)
@pytest.mark.parametrize(
    ("typed", "message"),
    [("", "This field is required."), ("12345", "Enter a valid mobile phone number.")],
    ids=["empty", "malformed"],
)
def test_main_form_phone_errors_show_next_to_the_phone_field(
    browser, live_server, path, javascript, typed, message
):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=javascript, locale="en-US"
    )
    page = context.new_page()
    page.goto(path)
    page.fill("input[name=phone]", typed)
    page.fill("input[name=code]", "123456")
    for name in ("password1", "password2"):
        if page.locator(f"input[name={name}]").count():
            page.fill(f"input[name={name}]", PASSWORD)
    page.click("button[value=submit]")
    group = page.locator(".smsverify-field", has=page.locator("input[name=phone]"))
    expect(group).to_contain_text(message)
    context.close()
