"""Token hooks of the REST API: the default session login, the
djangorestframework-simplejwt hook (used end to end with JWTAuthentication),
and a site's own hook."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from django_smsverify.captcha.challenge import answer_for
from django_smsverify.contrib.rest_framework import tokens
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code

API = "/api/phone/"
PHONE = "+8613800138000"
OTHER = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"
JWT_HOOK = "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


@pytest.fixture
def jwt(settings):
    settings.SMSVERIFY = {"DRF": {"TOKEN_HOOK": JWT_HOOK}}
    # PyJWT warns about HMAC keys under 32 bytes; the tests' SECRET_KEY is shorter.
    settings.SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-0123456789abcdef"}
    settings.REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework_simplejwt.authentication.JWTAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ]
    }


def send(api, phone=PHONE, purpose="register", **extra):
    key = api.get(API + "captcha/").json()["key"]
    data = {"phone": phone, "purpose": purpose, "captcha_key": key}
    data["captcha_answer"] = answer_for(key)
    return api.post(API + "send-code/", data, format="json", **extra)


def register(api):
    assert send(api).status_code == 200
    body = {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD}
    return api.post(API + "register/", body, format="json")


def test_default_hook_is_the_session_login():
    assert tokens.get_token_hook() is tokens.session_login
    assert tokens.requires_csrf(tokens.session_login)
    assert not tokens.requires_csrf(tokens.simplejwt_tokens)


@pytest.mark.usefixtures("jwt")
def test_simplejwt_register_answers_tokens_that_authenticate():
    api = APIClient(enforce_csrf_checks=True)  # no session, so no CSRF token needed
    response = register(api)
    assert response.status_code == 201
    body = response.json()
    user = get_user_model().objects.get()
    assert set(body) == {"user_id", "token", "access", "refresh"}
    assert body["user_id"] == user.pk
    assert body["token"] == body["access"]
    assert str(AccessToken(body["access"])["user_id"]) == str(user.pk)
    assert str(RefreshToken(body["refresh"])["user_id"]) == str(user.pk)
    assert "sessionid" not in response.cookies

    # The access token alone (a fresh client, no cookies) changes the phone number.
    bearer = APIClient(enforce_csrf_checks=True)
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert send(bearer, phone=OTHER, purpose="change_phone").status_code == 200
    changed = bearer.post(
        API + "change/",
        {"phone": OTHER, "code": last_code(OTHER), "current_password": PASSWORD},
        format="json",
    )
    assert changed.status_code == 200
    assert PhoneNumber.objects.get(user=user).number == OTHER


@pytest.mark.usefixtures("jwt")
def test_simplejwt_sms_and_password_login():
    api = APIClient()
    assert register(api).status_code == 201
    user = get_user_model().objects.get()
    assert send(api, purpose="login").status_code == 200
    by_code = api.post(API + "login/", {"phone": PHONE, "code": last_code()}, format="json")
    assert by_code.status_code == 200
    assert str(AccessToken(by_code.json()["token"])["user_id"]) == str(user.pk)
    by_password = api.post(
        API + "login/password/", {"phone": PHONE, "password": PASSWORD}, format="json"
    )
    assert by_password.status_code == 200
    assert by_password.json()["user_id"] == user.pk


@pytest.mark.usefixtures("jwt")
def test_phone_change_with_a_bad_bearer_token_is_401():
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api.post(API + "change/", {"phone": OTHER, "code": "123456"}, format="json")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


@pytest.mark.usefixtures("jwt")
def test_simplejwt_updates_last_login_when_asked(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "UPDATE_LAST_LOGIN": True}
    assert register(APIClient()).status_code == 201
    assert get_user_model().objects.get().last_login is not None


def custom_hook(request, user):
    """A site's own hook (for the test below)."""
    return {"token": f"custom-{user.pk}", "expires_in": 3600}


def test_a_sites_own_hook(settings):
    settings.SMSVERIFY = {"DRF": {"TOKEN_HOOK": "tests.test_api_tokens.custom_hook"}}
    api = APIClient(enforce_csrf_checks=True)  # the hook does not ask for CSRF
    response = register(api)
    assert response.status_code == 201
    user = get_user_model().objects.get()
    assert response.json() == {"user_id": user.pk, "token": f"custom-{user.pk}", "expires_in": 3600}
    assert not api.get("/welcome/").wsgi_request.user.is_authenticated


def test_missing_simplejwt_names_the_install_line(monkeypatch):
    import sys

    from django_smsverify.exceptions import SmsConfigurationError

    monkeypatch.setitem(sys.modules, "rest_framework_simplejwt.tokens", None)
    with pytest.raises(SmsConfigurationError, match="pip install djangorestframework-simplejwt"):
        tokens.simplejwt_tokens(None, None)
