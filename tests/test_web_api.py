"""The JSON endpoints: send_code and phone_status."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

import django_smsverify
from django_smsverify.models import PhoneNumber, SmsDelivery
from tests.helpers import last_code, solved_captcha

URL = "/accounts/phone/send-code/"
STATUS = "/accounts/phone/status/"
PHONE = "+8613800138000"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def post_json(client, data, **extra):
    return client.post(URL, json.dumps(data), content_type="application/json", **extra)


def send(client, phone=PHONE, purpose="register", as_json=True, **extra):
    data = {"phone": phone, "purpose": purpose, **solved_captcha(client)}
    if as_json:
        return post_json(client, data, **extra)
    return client.post(URL, data, **extra)


def make_user(phone=PHONE, password="correct horse battery"):
    user = get_user_model().objects.create_user(username=phone, password=password)
    PhoneNumber.objects.create(user=user, number=phone)
    return user


def test_json_send_answers_timings_and_never_the_code(client):
    response = send(client, phone="138 0013 8000")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "ok": True,
        "phone": PHONE,
        "resend_after": 60,
        "expires_in": 300,
        "delivery": "sent",
    }
    assert last_code() not in response.content.decode()
    assert len(django_smsverify.outbox) == 1


def test_form_encoded_send(client):
    assert send(client, as_json=False).status_code == 200
    assert len(django_smsverify.outbox) == 1


def test_json_captcha_aliases(client):
    captcha = solved_captcha(client)
    response = post_json(
        client,
        {
            "phone": PHONE,
            "purpose": "register",
            "captcha": {"key": captcha["captcha_0"], "answer": captcha["captcha_1"]},
        },
    )
    assert response.status_code == 200


def test_invalid_number_is_400_with_field_error_and_no_sms(client):
    response = send(client, phone="12345")
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["errors"]["phone"] == ["Enter a valid mobile phone number."]
    assert django_smsverify.outbox == []


@pytest.mark.parametrize("answer", ["", "WRONG"])
def test_unsolved_captcha_sends_nothing(client, answer):
    captcha = solved_captcha(client)
    captcha["captcha_1"] = answer
    response = post_json(client, {"phone": PHONE, "purpose": "register", **captcha})
    assert response.status_code == 400
    assert "captcha" in response.json()["errors"]
    assert django_smsverify.outbox == []


def test_a_captcha_solves_one_send_only(client):
    captcha = solved_captcha(client)
    assert post_json(client, {"phone": PHONE, "purpose": "login", **captcha}).status_code in (200,)
    again = post_json(client, {"phone": "+8613900139000", "purpose": "register", **captcha})
    assert again.status_code == 400
    assert "captcha" in again.json()["errors"]


def test_unknown_purpose_is_400(client):
    response = send(client, purpose="admin")
    assert response.status_code == 400
    assert "purpose" in response.json()["errors"]


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', "\x00\x01"])
def test_bad_json_is_400(client, body):
    response = client.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_non_string_json_values_are_400_not_500(client):
    response = post_json(
        client,
        {"phone": ["13800138000"], "purpose": {"a": 1}, "captcha_key": None, "captcha_answer": 12},
    )
    assert response.status_code == 400


def test_resend_too_soon_is_429_with_retry_after(client):
    assert send(client).status_code == 200
    response = send(client)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert response.json()["retry_after"] == 60
    assert response.json()["errors"]["__all__"]
    assert len(django_smsverify.outbox) == 1


def test_store_down_is_503_and_nothing_is_sent(client, settings):
    captcha = solved_captcha(client)  # the captcha lives in the same store: solve it first
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    response = post_json(client, {"phone": PHONE, "purpose": "register", **captcha})
    assert response.status_code == 503
    assert response.json()["ok"] is False
    assert django_smsverify.outbox == []


def test_provider_failure_is_503_and_the_user_can_retry_at_once(client, settings):
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    response = send(client)
    assert response.status_code == 503
    record = SmsDelivery.objects.get()
    assert record.status == "failed"
    assert record.error_code == "TPL"
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    assert send(client).status_code == 200


def test_each_send_leaves_a_delivery_record_without_the_code(client):
    send(client)
    record = SmsDelivery.objects.get()
    assert (record.phone, record.purpose, record.status, record.attempts) == (
        PHONE,
        "register",
        "sent",
        1,
    )
    assert record.backend == "django_smsverify.backends.locmem.SmsBackend"
    assert record.provider_message_id
    values = " ".join(str(v) for v in SmsDelivery.objects.values().get().values())
    assert last_code() not in values


def test_delivery_records_off_sends_without_touching_the_table(client, settings):
    settings.SMSVERIFY = {**getattr(settings, "SMSVERIFY", {}), "DELIVERY_RECORDS": False}
    assert send(client).status_code == 200
    assert len(django_smsverify.outbox) == 1
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    assert send(client, phone="+8613900139000").status_code == 503
    assert not SmsDelivery.objects.exists()


def test_csrf_is_enforced():
    client = Client(enforce_csrf_checks=True)
    response = client.post(URL, {"phone": PHONE, "purpose": "register"})
    assert response.status_code == 403
    assert django_smsverify.outbox == []


def test_get_is_405(client):
    assert client.get(URL).status_code == 405


# Enumeration ---------------------------------------------------------------


def strip_phone(response):
    body = response.json()
    body.pop("phone", None)
    return response.status_code, body


def test_register_on_a_registered_number_answers_like_any_other(client):
    make_user()
    registered = send(client, phone=PHONE)
    fresh = send(client, phone="+8613900139000")
    assert strip_phone(registered) == strip_phone(fresh)
    notice, code_sms = django_smsverify.outbox
    assert notice.to == [PHONE]
    assert "already has an account" in notice.body
    assert notice.params == []
    assert code_sms.params  # the other number got a real code
    # the registered number is now cooling down, exactly like the other
    assert strip_phone(send(client, phone=PHONE)) == strip_phone(
        send(client, phone="+8613900139000")
    )


def test_login_on_an_unknown_number_answers_like_a_known_one(client):
    make_user()
    known = send(client, phone=PHONE, purpose="login")
    unknown = send(client, phone="+8613900139000", purpose="login")
    assert strip_phone(known) == strip_phone(unknown)
    assert "no account uses it" in django_smsverify.outbox[1].body


def test_each_notice_says_what_was_asked_for(client):
    # The owner of the number reads the notice: it must name what someone
    # tried, not always "sign up".
    make_user()
    other = make_user(phone="+8613700137000")
    send(client, phone="+8613900139000", purpose="reset_password")
    assert "reset the password" in django_smsverify.outbox[-1].body
    send(client, phone="+8613600136000", purpose="login")
    assert "login code" in django_smsverify.outbox[-1].body
    client.force_login(other)
    send(client, phone=PHONE, purpose="change_phone")
    notice = django_smsverify.outbox[-1]
    assert notice.to == [PHONE]
    assert "move their account to this number" in notice.body
    assert "sign up" not in notice.body


def test_failed_notice_answers_like_a_failed_code(client, settings):
    make_user()
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    notice = send(client, phone=PHONE)  # registered: a notice, which fails
    code = send(client, phone="+8613900139000")  # not registered: a code, which fails
    assert notice.status_code == code.status_code == 503
    assert notice.json() == code.json()
    # Both gave back what they took: the next try reaches the provider again.
    assert send(client, phone=PHONE).status_code == 503
    assert send(client, phone="+8613900139000").status_code == 503


def test_phone_status_is_404_when_enumeration_is_prevented(client):
    assert client.get(STATUS, {"phone": PHONE}).status_code == 404


def test_without_prevention_the_tutorial_experience(client, settings):
    settings.SMSVERIFY = {"PREVENT_ENUMERATION": False, "PHONE_STATUS_LIMIT": 3}  # bad ones count
    make_user()
    response = send(client, phone=PHONE)
    assert response.status_code == 400
    assert response.json()["errors"]["phone"] == [
        "This number is already registered. Log in instead."
    ]
    response = send(client, phone="+8613900139000", purpose="login")
    assert response.json()["errors"]["phone"] == ["No account uses this number."]
    assert django_smsverify.outbox == []

    assert client.get(STATUS, {"phone": "138 0013 8000"}).json() == {
        "ok": True,
        "phone": PHONE,
        "registered": True,
    }
    assert client.get(STATUS, {"phone": "+8613900139000"}).json()["registered"] is False
    assert client.get(STATUS, {"phone": "bogus"}).status_code == 400
    limited = client.get(STATUS, {"phone": PHONE})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 3500


# Client IP -----------------------------------------------------------------


def test_forwarded_for_is_ignored_unless_trusted(client, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 1}}
    assert send(client, phone=PHONE, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    # A forged header does not buy a fresh IP quota.
    response = send(client, phone="+8613900139000", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert response.status_code == 429


def test_trusted_proxy_count_picks_the_client_address(client, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 1}, "TRUSTED_PROXIES": 1}
    ok = send(client, phone=PHONE, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1")
    assert ok.status_code == 200
    other_client = send(
        client, phone="+8613900139000", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.2"
    )
    assert other_client.status_code == 200
    same_client = send(client, phone="+8613700137000", HTTP_X_FORWARDED_FOR="7.7.7.7, 198.51.100.1")
    assert same_client.status_code == 429
