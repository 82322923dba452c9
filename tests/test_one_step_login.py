"""One-step SMS login (``LOGIN_CREATES_USER``): an unknown number that logs in
by code gets an account on the spot, on the page and in the REST API, without
telling anyone whether the number was registered, and once only however many
first logins race."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

import django_smsverify
from django_smsverify import signals
from django_smsverify.models import PhoneNumber
from tests.helpers import api_send_code, last_code, solved_captcha

PHONE = "+8613800138000"
OTHER = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"
JWT_HOOK = "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


@pytest.fixture
def one_step(settings):
    settings.SMSVERIFY = {"LOGIN_CREATES_USER": True}


@pytest.fixture
def registered_signals():
    received = []

    def receiver(**kwargs):
        received.append(kwargs["phone"])

    signals.user_registered.connect(receiver, weak=False)
    yield received
    signals.user_registered.disconnect(receiver)


def page_send(client, phone):
    return client.post(
        "/accounts/phone/login/", {"action": "send_code", "phone": phone, **solved_captcha(client)}
    )


@pytest.mark.usefixtures("one_step")
def test_unknown_number_is_signed_up_at_login_on_the_page(client, registered_signals):
    assert page_send(client, "138 0013 8000").status_code == 200
    assert django_smsverify.outbox[-1].purpose == "login"  # a code, not a notice
    response = client.post("/accounts/phone/login/", {"phone": PHONE, "code": last_code()})
    assert response.status_code == 302, response.content.decode()
    user = get_user_model().objects.get()
    assert not user.has_usable_password()
    assert PhoneNumber.objects.get().number == PHONE
    assert registered_signals == [PHONE]
    page = client.get("/welcome/").content.decode()
    assert f"<p id='who'>{user.get_username()}</p>" in page

    # The next login finds the same account and creates nothing.
    client.post("/accounts/phone/logout/")
    page_send(client, PHONE)
    client.post("/accounts/phone/login/", {"phone": PHONE, "code": last_code()})
    assert get_user_model().objects.count() == 1
    assert registered_signals == [PHONE]


def test_off_by_default_an_unknown_number_gets_a_notice(client):
    page_send(client, PHONE)
    assert django_smsverify.outbox[-1].purpose == "notice_unregistered"
    assert get_user_model().objects.count() == 0


@pytest.mark.usefixtures("one_step")
def test_send_answers_alike_for_registered_and_unknown_numbers(client):
    user = get_user_model().objects.create_user(username="old", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=OTHER)
    answers = []
    for phone in (PHONE, OTHER):
        response = client.post(
            "/accounts/phone/send-code/",
            {"phone": phone, "purpose": "login", **solved_captcha(client)},
        )
        body = response.json()
        body.pop("phone")
        answers.append((response.status_code, body))
        assert django_smsverify.outbox[-1].purpose == "login"
    assert answers[0] == answers[1]


def test_rest_one_step_login_answers_jwt_tokens(settings, registered_signals):
    settings.SMSVERIFY = {"LOGIN_CREATES_USER": True, "DRF": {"TOKEN_HOOK": JWT_HOOK}}
    settings.SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-0123456789abcdef"}
    settings.REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework_simplejwt.authentication.JWTAuthentication"
        ]
    }
    api = APIClient()
    assert api_send_code(api, PHONE, "login").status_code == 200
    response = api.post("/api/phone/login/", {"phone": PHONE, "code": last_code()}, format="json")
    assert response.status_code == 200, response.content.decode()
    body = response.json()
    user = get_user_model().objects.get()
    assert body["user_id"] == user.pk
    assert body["token"] == body["access"]
    assert AccessToken(body["access"])["user_id"] == str(user.pk)
    assert registered_signals == [PHONE]

    # The access token authenticates the new user on the phone change endpoint;
    # the account has no password, so it proves itself with a code to its number.
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert api.post("/api/phone/change/current-code/").status_code == 200
    current_code = last_code(PHONE)
    assert api_send_code(api, OTHER, "change_phone").status_code == 200
    body = {"phone": OTHER, "code": last_code(OTHER), "current_code": current_code}
    response = api.post("/api/phone/change/", body, format="json")
    assert response.status_code == 200, response.content.decode()
    assert PhoneNumber.objects.get(user=user).number == OTHER


@pytest.mark.usefixtures("one_step")
def test_rest_one_step_login_with_the_session_hook(registered_signals):
    api = APIClient()
    assert api_send_code(api, PHONE, "login").status_code == 200
    response = api.post("/api/phone/login/", {"phone": PHONE, "code": last_code()}, format="json")
    assert response.status_code == 200, response.content.decode()
    assert response.json() == {"user_id": get_user_model().objects.get().pk, "token": None}
    assert registered_signals == [PHONE]
