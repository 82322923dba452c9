"""Accounts layer: admin, signals, the adapter, PhoneBackend, swappable forms."""

from __future__ import annotations

import pytest
import time_machine
from django import forms
from django.contrib.auth import authenticate, get_user_model

import django_smsverify
from django_smsverify import signals, verification
from django_smsverify.adapter import DefaultAdapter, get_adapter
from django_smsverify.forms import SendCodeForm, get_form_class
from django_smsverify.models import PhoneNumber, SmsDelivery
from tests.helpers import last_code, solved_captcha

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def make_user(phone=PHONE):
    user = get_adapter().create_user(None, phone, PASSWORD)
    PhoneNumber.objects.create(user=user, number=phone)
    return user


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "a@example.com", PASSWORD)
    client.force_login(admin)
    return client


def test_admin_searches_numbers(admin_client):
    make_user()
    make_user("+8613900139000")
    page = admin_client.get("/admin/django_smsverify/phonenumber/", {"q": "13900139000"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "+8613900139000" in html
    assert "+8613800138000" not in html


def test_admin_delivery_records_are_read_only_and_filterable(admin_client):
    verification.send_code(PHONE, "register")
    record = SmsDelivery.objects.get()
    listing = admin_client.get("/admin/django_smsverify/smsdelivery/", {"status__exact": "sent"})
    assert listing.status_code == 200
    assert PHONE in listing.content.decode()
    assert admin_client.get("/admin/django_smsverify/smsdelivery/add/").status_code == 403
    detail = admin_client.get(f"/admin/django_smsverify/smsdelivery/{record.pk}/change/")
    assert detail.status_code == 200
    assert 'name="status"' not in detail.content.decode()  # shown, not editable
    posted = admin_client.post(
        f"/admin/django_smsverify/smsdelivery/{record.pk}/change/", {"status": "failed"}
    )
    assert posted.status_code == 403
    record.refresh_from_db()
    assert record.status == "sent"


def test_signals_fire_with_their_arguments(client):
    seen = []

    def recorder(name):
        def receive(sender, **kwargs):
            seen.append((name, kwargs.get("phone"), kwargs.get("purpose")))

        return receive

    receivers = {
        signals.code_sent: recorder("code_sent"),
        signals.code_verified: recorder("code_verified"),
        signals.phone_verified: recorder("phone_verified"),
        signals.user_registered: recorder("user_registered"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        client.post(
            "/accounts/phone/register/",
            {"action": "send_code", "phone": PHONE, **solved_captcha(client)},
        )
        client.post(
            "/accounts/phone/register/",
            {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD},
        )
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert seen == [
        ("code_sent", PHONE, "register"),
        ("code_verified", PHONE, "register"),
        ("user_registered", PHONE, None),
        ("phone_verified", PHONE, None),
    ]


def test_phone_backend_authenticates_by_any_spelling():
    user = make_user()
    assert authenticate(None, phone="138 0013 8000", password=PASSWORD) == user
    assert authenticate(None, phone=PHONE, password="wrong") is None
    assert authenticate(None, phone="+8613900139000", password=PASSWORD) is None
    assert authenticate(None, phone="garbage", password=PASSWORD) is None


def test_phone_backend_refuses_inactive_users():
    user = make_user()
    user.is_active = False
    user.save()
    assert authenticate(None, phone=PHONE, password=PASSWORD) is None


def test_default_username_is_not_the_number():
    """A username tied to a number would block the number's next owner."""
    first, second = make_user(), make_user("+8613900139000")
    for user in (first, second):
        name = user.get_username()
        assert name.startswith("user_")
        assert PHONE not in name and "13800138000" not in name
    assert first.get_username() != second.get_username()


class ShoutingAdapter(DefaultAdapter):
    def code_message(self, request, phone, code, purpose, ttl):
        message = super().code_message(request, phone, code, purpose, ttl)
        message.body = f"CODE {code}!"
        return message

    def username_for_phone(self, phone):
        return "user" + phone[-4:]


def test_adapter_is_swappable(client, settings):
    settings.SMSVERIFY = {"ADAPTER": "tests.test_accounts.ShoutingAdapter"}
    client.post(
        "/accounts/phone/register/",
        {"action": "send_code", "phone": PHONE, **solved_captcha(client)},
    )
    assert django_smsverify.outbox[0].body == f"CODE {last_code()}!"
    client.post(
        "/accounts/phone/register/",
        {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD},
    )
    assert get_user_model().objects.get().username == "user8000"


class TermsSendCodeForm(SendCodeForm):
    accept_terms = forms.BooleanField()


def test_forms_are_swappable(client, settings):
    settings.SMSVERIFY = {"FORMS": {"send_code": "tests.test_accounts.TermsSendCodeForm"}}
    assert get_form_class("send_code") is TermsSendCodeForm
    response = client.post(
        "/accounts/phone/send-code/",
        {"phone": PHONE, "purpose": "register", **solved_captcha(client)},
    )
    assert response.status_code == 400
    assert "accept_terms" in response.json()["errors"]
    response = client.post(
        "/accounts/phone/send-code/",
        {"phone": PHONE, "purpose": "register", "accept_terms": "on", **solved_captcha(client)},
    )
    assert response.status_code == 200


def _page_flow(client, page, phone, **fields):
    client.post(
        f"/accounts/phone/{page}/",
        {"action": "send_code", "phone": phone, **solved_captcha(client)},
    )
    return client.post(f"/accounts/phone/{page}/", {"phone": phone, "code": last_code(), **fields})


def test_a_recycled_number_can_be_registered_by_its_new_owner(client):
    """Carriers give numbers to new people: after A moves from 138… to 139…,
    the next owner of 138… signs up normally."""
    passwords = {"password1": "Tr1cky-horse-battery", "password2": "Tr1cky-horse-battery"}
    with time_machine.travel("2026-12-07 12:00:00Z", tick=False) as clock:
        assert _page_flow(client, "register", PHONE, **passwords).status_code == 302
        first = get_user_model().objects.get()
        response = _page_flow(
            client, "change", "+8613900139000", current_password="Tr1cky-horse-battery"
        )
        assert response.status_code == 200, response.content.decode()
        client.post("/accounts/phone/logout/")
        clock.shift(3600)  # weeks later, in a test's terms

        response = _page_flow(client, "register", PHONE, **passwords)
    assert response.status_code == 302, response.content.decode()
    newcomer = get_user_model().objects.exclude(pk=first.pk).get()
    assert get_adapter().get_user_by_phone(PHONE) == newcomer
    assert get_adapter().get_user_by_phone("+8613900139000") == first
