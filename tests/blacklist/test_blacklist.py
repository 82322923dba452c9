"""With simplejwt's token_blacklist app installed, a password reset and a
phone change blacklist every outstanding refresh token of the user, whoever
issued it."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from django_smsverify.models import PhoneNumber
from tests.helpers import api_send_code, last_code

PHONE = "+8613800138000"
NEW = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"
NEW_PASSWORD = "Another-long-passphrase-42"
API = "/api/phone/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def jwt(settings):
    settings.SMSVERIFY = {
        "RESEND_COOLDOWN": 0,
        "DRF": {"TOKEN_HOOK": "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"},
    }
    settings.SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-0123456789abcdef"}
    settings.REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "django_smsverify.contrib.rest_framework.jwt.JWTAuthentication"
        ]
    }


@pytest.fixture
def member():
    user = get_user_model().objects.create_user(username="member", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    return user


def outstanding(user) -> int:
    return OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count()


def test_a_password_reset_blacklists_every_refresh_token(member):
    login = {"phone": PHONE, "password": PASSWORD}
    assert APIClient().post(API + "login/password/", login, format="json").status_code == 200
    RefreshToken.for_user(member)  # one the site issued itself
    assert outstanding(member) == 2
    api = APIClient()
    assert api_send_code(api, PHONE, "reset_password").status_code == 200
    body = {"phone": PHONE, "code": last_code(PHONE)}
    body.update(password1=NEW_PASSWORD, password2=NEW_PASSWORD)
    assert api.post(API + "password/reset/", body, format="json").status_code == 200
    assert outstanding(member) == 0
    assert BlacklistedToken.objects.filter(token__user=member).count() == 2


def test_a_phone_change_blacklists_the_old_refresh_tokens_not_the_new_ones(member):
    login = {"phone": PHONE, "password": PASSWORD}
    tokens = APIClient().post(API + "login/password/", login, format="json").json()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api_send_code(api, NEW, "change_phone").status_code == 200
    body = {"phone": NEW, "code": last_code(NEW), "current_password": PASSWORD}
    changed = api.post(API + "change/", body, format="json")
    assert changed.status_code == 200, changed.content.decode()
    # The old pair is blacklisted; the pair in the answer is the one left.
    assert outstanding(member) == 1
    left = OutstandingToken.objects.get(blacklistedtoken__isnull=True)
    assert left.jti == RefreshToken(changed.json()["refresh"])["jti"]
