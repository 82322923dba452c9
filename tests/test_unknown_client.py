"""A request whose client address cannot be determined (behind nginx on a unix
socket REMOTE_ADDR is empty) neither skips a per-client limit nor shares one
bucket with every other such client: it is refused with 503, logged, and
``check --deploy`` warns (smsverify.W013). Issue 15, point 2: the send path
used to skip the IP quota (45 sends against a limit of 30) while password
login and phone status put everyone in one bucket."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model

import django_smsverify
from django_smsverify import checks as smsverify_checks
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.models import PhoneNumber
from tests.helpers import solved_captcha

PHONE = "+8613800138000"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def send(client, phone=PHONE):
    return client.post(
        "/accounts/phone/send-code/",
        {"phone": phone, "purpose": "register", **solved_captcha(client)},
        REMOTE_ADDR="",
    )


def test_send_without_an_address_is_refused_not_unlimited(client, caplog):
    with caplog.at_level(logging.ERROR, logger="django_smsverify.adapter"):
        responses = [send(client, f"+861380000{i:04d}") for i in range(3)]
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert responses[0]["Retry-After"] == "30"
    assert django_smsverify.outbox == []
    assert "client address unknown" in caplog.text


def test_the_api_refuses_the_same(client):
    from rest_framework.test import APIClient

    api = APIClient(REMOTE_ADDR="")
    assert api.get("/api/phone/captcha/").status_code == 503
    # Nor does a challenge fetched by a client with an address get a send past
    # the per-IP quota.
    key = APIClient().get("/api/phone/captcha/").json()["key"]
    response = api.post(
        "/api/phone/send-code/",
        {
            "phone": PHONE,
            "purpose": "register",
            "captcha_key": key,
            "captcha_answer": answer_for(key),
        },
        format="json",
    )
    assert response.status_code == 503
    assert django_smsverify.outbox == []


def test_password_login_without_an_address_is_refused_and_locks_nobody(client):
    user = get_user_model().objects.create_user(username="m", password="Right-passw0rd")
    PhoneNumber.objects.create(user=user, number=PHONE)
    for _ in range(60):  # past the per-IP limit of 50, had these shared a bucket
        response = client.post(
            "/accounts/phone/login/",
            {"method": "password", "phone": "+8613900139000", "password": "wrong"},
            REMOTE_ADDR="",
        )
        assert response.status_code == 503
    # A client with an address is not locked out by them.
    response = client.post(
        "/accounts/phone/login/",
        {"method": "password", "phone": PHONE, "password": "Right-passw0rd"},
    )
    assert response.status_code == 302


def test_phone_status_without_an_address_is_refused(client, settings):
    settings.SMSVERIFY = {"PREVENT_ENUMERATION": False}
    response = client.get("/accounts/phone/status/", {"phone": PHONE}, REMOTE_ADDR="")
    assert response.status_code == 503


def test_with_the_ip_quota_off_no_address_is_needed(client, settings):
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": None}}
    assert send(client).status_code == 200
    assert len(django_smsverify.outbox) == 1


def test_w013_deploy_check_warns_after_such_a_request(client, settings):
    assert smsverify_checks.check_unknown_client_address() == []
    send(client)
    [warning] = smsverify_checks.check_unknown_client_address()
    assert warning.id == "smsverify.W013"
    assert "TRUSTED_PROXIES = 0" in warning.msg
    assert "X-Forwarded-For" in warning.hint
    # Only with --deploy.
    from django.core import checks

    assert "smsverify.W013" not in [m.id for m in checks.run_checks()]
    assert "smsverify.W013" in [m.id for m in checks.run_checks(include_deployment_checks=True)]
