"""What the pages render for each state of a flow (issue 16, point 3), as a
browser without JavaScript gets it: the captcha put away after a send, the
lock-out's wait on the send box, a refused code not echoed back, "Show
another image" keeping what was typed, and the end of a phone change."""

from __future__ import annotations

import re

import pytest

import django_smsverify
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code, solved_captcha, wrong_code

PHONE = "+8613800138000"
NEW = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"
REGISTER = "/accounts/phone/register/"
CHANGE = "/accounts/phone/change/"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def send(client, path=REGISTER, phone=PHONE):
    return client.post(path, {"action": "send_code", "phone": phone, **solved_captcha(client)})


def captcha_group_tag(html: str) -> str:
    match = re.search(r"<div[^>]*data-smsverify-captcha-group[^>]*>", html)
    assert match, html
    return match.group(0)


def input_value(html: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert tag, name
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def test_the_send_box_names_the_default_region(client, settings):
    assert 'data-region="CN"' in client.get(REGISTER).content.decode()
    settings.SMSVERIFY = {"DEFAULT_REGION": "gb", "ALLOWED_REGIONS": "__all__"}
    assert 'data-region="GB"' in client.get(REGISTER).content.decode()


def test_the_captcha_is_put_away_after_a_send_and_shown_otherwise(client):
    assert " hidden" not in captcha_group_tag(client.get(REGISTER).content.decode())
    html = send(client).content.decode()
    assert "Code sent to" in html
    assert " hidden" in captcha_group_tag(html)


def test_lock_out_puts_its_wait_on_the_send_box(client):
    send(client)
    data = {
        "phone": PHONE,
        "code": wrong_code(last_code()),
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    first = client.post(REGISTER, data).content.decode()
    assert "The verification code is incorrect. 4 attempts left." in first
    assert 'data-resend-after=""' in first
    for _ in range(4):
        last = client.post(REGISTER, data)
    html = last.content.decode()
    assert re.search(r"You can ask for a new code in \d+ minutes\.", html)
    wait = int(re.search(r'data-resend-after="(\d+)"', html).group(1))
    assert 60 < wait <= 3600


def test_a_refused_code_is_not_shown_again_but_a_code_that_was_not_checked_is(client):
    send(client)
    code = last_code()
    mismatch = {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": "other"}
    html = client.post(REGISTER, mismatch).content.decode()
    assert "The two passwords do not match." in html
    assert input_value(html, "code") == code  # not checked, still good
    wrong = {**mismatch, "code": wrong_code(code), "password2": PASSWORD}
    html = client.post(REGISTER, wrong).content.decode()
    assert "The verification code is incorrect." in html
    assert input_value(html, "code") is None
    assert re.search(r"138\D*0013\D*8000$", input_value(html, "phone"))  # in any spelling


def test_another_image_keeps_what_was_typed_and_sends_nothing(client):
    old_key = solved_captcha(client)["captcha_0"]
    response = client.post(
        REGISTER,
        {
            "action": "new_captcha",
            "phone": "138 0013 8000",
            "code": "123456",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "captcha_0": old_key,
            "captcha_1": "",
            "next": "/dashboard/",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert input_value(html, "phone") == "138 0013 8000"
    assert input_value(html, "code") == "123456"
    assert input_value(html, "password1") is None
    assert input_value(html, "captcha_0") not in ("", None, old_key)
    assert input_value(html, "next") == "/dashboard/"
    assert "errorlist" not in html
    assert django_smsverify.outbox == []


def test_phone_change_ends_on_the_new_number_with_links_onward(client, django_user_model):
    user = django_user_model.objects.create_user(username="member", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    client.force_login(user)
    page = client.get(CHANGE).content.decode()
    assert re.search(r'<a href="/welcome/">Back to the site</a>', page)
    # The logout link leads to the page whose button logs out (GET changes nothing).
    assert '<a href="/accounts/phone/logout/">Log out</a>' in page
    assert "data-smsverify-reset-countdown" not in page

    send(client, CHANGE, NEW)
    response = client.post(
        CHANGE + "?next=/dashboard/",
        {"phone": NEW, "code": last_code(NEW), "current_password": PASSWORD},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Your phone number has been changed." in html
    assert re.search(r"Your number is now [^<]*139\D*0013\D*9000", html)
    assert re.search(r'<a href="/dashboard/"[^>]*>Continue</a>', html)
    assert 'data-smsverify-reset-countdown="change_phone"' in html
    assert "data-smsverify-send-button" not in html
    assert 'name="code"' not in html
    assert PhoneNumber.objects.get().number == NEW


def test_continue_after_a_phone_change_ignores_an_unsafe_next(client, django_user_model):
    user = django_user_model.objects.create_user(username="member", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    client.force_login(user)
    send(client, CHANGE, NEW)
    html = client.post(
        CHANGE,
        {
            "phone": NEW,
            "code": last_code(NEW),
            "current_password": PASSWORD,
            "next": "https://evil.example/",
        },
    ).content.decode()
    assert re.search(r'<a href="/welcome/"[^>]*>Continue</a>', html)
