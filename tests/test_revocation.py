"""Issue 15 point 7: a password reset and a phone change end every other
session and every token the app issued; a phone change needs proof beyond
the session (PHONE_CHANGE_PROOF); the old number is told.

The pentest, end to end: the attacker holds the victim's JWT pair; the victim
resets the password by SMS; the attacker's access token is refused (401), its
refresh token too, and before that the attacker could not move the account to
their own number without the password."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.test import Client
from django.urls import include, path
from rest_framework.test import APIClient
from rest_framework_simplejwt.views import TokenRefreshView as PlainRefreshView

import django_smsverify
from django_smsverify.adapter import get_adapter
from django_smsverify.contrib.rest_framework.jwt import TokenRefreshView
from django_smsverify.contrib.rest_framework.tokens import simplejwt_tokens
from django_smsverify.models import PhoneNumber
from tests.helpers import api_send_code, last_code, solved_captcha, wrong_code
from tests.urls import urlpatterns as site_urlpatterns

PHONE = "+8613800138000"
NEW = "+8613900139000"
ATTACKER = "+8613700137000"
PASSWORD = "Tr1cky-horse-battery"
NEW_PASSWORD = "Another-long-passphrase-42"
API = "/api/phone/"
REFRESH = "/api/token/refresh/"
CHANGE_PAGE = "/accounts/phone/change/"
RESET_PAGE = "/accounts/phone/password/reset/"
JWT_HOOK = "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"
APP_JWT = "django_smsverify.contrib.rest_framework.jwt.JWTAuthentication"
PLAIN_JWT = "rest_framework_simplejwt.authentication.JWTAuthentication"

# This module is also the URLconf of its tests: the site's URLs plus the
# app's refresh view (and, for the check, simplejwt's own).
urlpatterns = [
    *site_urlpatterns,
    path("api/token/refresh/", TokenRefreshView.as_view()),
]


class PlainRefreshUrls:
    """A URLconf that refreshes with simplejwt's own view (for W504)."""

    urlpatterns = [
        path("", include("tests.urls")),
        path("api/token/refresh/", PlainRefreshView.as_view()),
    ]


pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("store_cache"),
    pytest.mark.urls("tests.test_revocation"),
]


@pytest.fixture(autouse=True)
def no_cooldown(settings):
    # Some tests send twice to one number; the cooldown has tests of its own.
    settings.SMSVERIFY = {"RESEND_COOLDOWN": 0}


@pytest.fixture
def jwt(settings, no_cooldown):
    settings.SMSVERIFY = {**settings.SMSVERIFY, "DRF": {"TOKEN_HOOK": JWT_HOOK}}
    settings.SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-0123456789abcdef"}
    settings.REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [APP_JWT]}


@pytest.fixture
def member():
    user = get_user_model().objects.create_user(username="member", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    return user


def phone_of(user) -> str | None:
    """The user's number as the database has it now."""
    return get_adapter().get_phone(get_user_model().objects.get(pk=user.pk))


def bearer(access: str) -> APIClient:
    api = APIClient(enforce_csrf_checks=True)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


def api_login(phone: str = PHONE, password: str = PASSWORD) -> dict:
    response = APIClient().post(
        API + "login/password/", {"phone": phone, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content.decode()
    return response.json()


def api_reset_password(phone: str = PHONE, password: str = NEW_PASSWORD):
    api = APIClient()
    assert api_send_code(api, phone, "reset_password").status_code == 200
    body = {"phone": phone, "code": last_code(phone), "password1": password, "password2": password}
    return api.post(API + "password/reset/", body, format="json")


def api_change(api: APIClient, phone: str = NEW, **proof):
    assert api_send_code(api, phone, "change_phone").status_code == 200
    body = {"phone": phone, "code": last_code(phone), **proof}
    return api.post(API + "change/", body, format="json")


def is_authenticated(api: APIClient) -> int:
    """The status of a change request with no fields: 400 (field errors) when
    the token authenticates, 401 when it does not. It changes nothing."""
    return api.post(API + "change/", {}, format="json").status_code


# The pentest over the REST API -------------------------------------------------


@pytest.mark.usefixtures("jwt")
def test_pentest_a_password_reset_ends_the_attackers_jwts(member):
    stolen = api_login()  # the attacker's copy of the victim's token pair
    attacker = bearer(stolen["access"])

    # With a valid token the attacker still cannot move the account: the
    # password is asked for, and a wrong one is a field error.
    missing = api_change(attacker, ATTACKER)
    assert missing.status_code == 400
    assert missing.json() == {"current_password": ["This field is required."]}
    wrong = api_change(attacker, ATTACKER, current_password="guess-1234567")
    assert wrong.status_code == 400
    assert wrong.json() == {"current_password": ["The password is incorrect."]}
    assert phone_of(member) == PHONE

    # The victim resets the password by SMS.
    assert api_reset_password().status_code == 200

    # Both of the attacker's tokens are dead.
    refused = is_authenticated(attacker)
    assert refused == 401
    refresh = APIClient().post(REFRESH, {"refresh": stolen["refresh"]}, format="json")
    assert refresh.status_code == 401
    assert refresh.json()["code"] == "token_revoked"
    # The victim's new login works, and refreshes.
    fresh = api_login(password=NEW_PASSWORD)
    assert is_authenticated(bearer(fresh["access"])) == 400
    renewed = APIClient().post(REFRESH, {"refresh": fresh["refresh"]}, format="json")
    assert renewed.status_code == 200
    assert is_authenticated(bearer(renewed.json()["access"])) == 400


@pytest.mark.usefixtures("jwt")
def test_tokens_carry_the_claim_and_survive_a_secret_key_rotation(member, settings):
    tokens = api_login()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key", [settings.SECRET_KEY]
    assert is_authenticated(bearer(tokens["access"])) == 400
    settings.SECRET_KEY_FALLBACKS = []
    assert is_authenticated(bearer(tokens["access"])) == 401


@pytest.mark.usefixtures("jwt")
def test_a_phone_change_ends_other_tokens_and_renews_the_requesters(
    member, django_capture_on_commit_callbacks
):
    other_device = api_login()
    mine = api_login()
    api = bearer(mine["access"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_change(api, current_password=PASSWORD)
    assert response.status_code == 200, response.content.decode()
    body = response.json()
    assert body["phone"] == NEW
    assert set(body) == {"phone", "token", "access", "refresh"}
    assert phone_of(member) == NEW
    member.refresh_from_db()
    assert member.check_password(PASSWORD)  # the same password, a new hash

    assert is_authenticated(bearer(other_device["access"])) == 401
    assert is_authenticated(api) == 401  # the token it came with is over too
    assert APIClient().post(REFRESH, {"refresh": mine["refresh"]}, format="json").status_code == 401
    assert is_authenticated(bearer(body["access"])) == 400
    renewed = APIClient().post(REFRESH, {"refresh": body["refresh"]}, format="json")
    assert renewed.status_code == 200


@pytest.mark.usefixtures("jwt")
def test_wrong_passwords_count_against_the_password_login_limit(member, settings):
    settings.SMSVERIFY = {
        **settings.SMSVERIFY,
        "PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": 3, "IP_PER_HOUR": None},
    }
    api = bearer(api_login()["access"])  # a successful login gives its attempt back
    body = {"phone": NEW, "code": "123456"}
    answers = [
        api.post(API + "change/", {**body, "current_password": f"guess-{i}-x"}, format="json")
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400]
    refused = api.post(API + "change/", {**body, "current_password": PASSWORD}, format="json")
    assert refused.status_code == 429
    assert 3000 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["retry_after"] == int(refused["Retry-After"])
    # The same counter as password login: that is refused now too.
    login = APIClient().post(
        API + "login/password/", {"phone": PHONE, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 429
    assert phone_of(member) == PHONE


@pytest.mark.usefixtures("jwt")
def test_a_right_password_gives_its_attempt_back(member, settings):
    settings.SMSVERIFY = {
        **settings.SMSVERIFY,
        "PASSWORD_LOGIN_LIMITS": {"PHONE_PER_HOUR": 2, "IP_PER_HOUR": None},
    }
    api = bearer(api_login()["access"])
    body = {"phone": NEW, "code": "000000", "current_password": PASSWORD}
    # The password is right, the code is not: no attempt stays counted.
    for _ in range(3):
        assert api.post(API + "change/", body, format="json").status_code == 400
    assert api_change(api, current_password=PASSWORD).status_code == 200


def test_rest_phone_change_by_session_keeps_that_session_only(member):
    mine, other = APIClient(), APIClient()
    mine.force_login(member)
    other.force_login(member)
    response = api_change(mine, current_password=PASSWORD)
    assert response.status_code == 200
    assert response.json() == {"phone": NEW}  # a session needs no new token
    assert mine.get("/welcome/").wsgi_request.user == member
    assert not other.get("/welcome/").wsgi_request.user.is_authenticated


# Pages -------------------------------------------------------------------------


def logged_in(client: Client) -> bool:
    return bool(client.get("/welcome/").wsgi_request.user.is_authenticated)


def page_change(client: Client, phone: str = NEW, **proof):
    sent = client.post(
        CHANGE_PAGE, {"action": "send_code", "phone": phone, **solved_captcha(client)}
    )
    assert sent.status_code == 200, sent.content.decode()
    return client.post(CHANGE_PAGE, {"phone": phone, "code": last_code(phone), **proof})


def test_page_password_reset_logs_out_every_session(member):
    other = Client()
    other.force_login(member)
    assert logged_in(other)
    client = Client()
    client.post(RESET_PAGE, {"action": "send_code", "phone": PHONE, **solved_captcha(client)})
    response = client.post(
        RESET_PAGE,
        {
            "phone": PHONE,
            "code": last_code(PHONE),
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "Your password has been changed" in response.content.decode()
    assert not logged_in(other)


def test_page_phone_change_logs_out_other_sessions_not_this_one(
    member, django_capture_on_commit_callbacks
):
    mine, other = Client(), Client()
    mine.force_login(member)
    other.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        response = page_change(mine, current_password=PASSWORD)
    assert response.status_code == 200, response.content.decode()
    assert "Your phone number has been changed." in response.content.decode()
    assert logged_in(mine)
    assert not logged_in(other)


def test_page_phone_change_needs_the_password_and_says_so_next_to_the_field(member):
    client = Client()
    client.force_login(member)
    page = client.get(CHANGE_PAGE).content.decode()
    assert 'name="current_password"' in page
    assert 'autocomplete="current-password"' in page
    response = page_change(client, ATTACKER, current_password="not-the-password")
    assert response.status_code == 400
    html = response.content.decode()
    start = html.rindex('<div class="smsverify-field">', 0, html.index('name="current_password"'))
    field = html[start : html.index("</div>", start)]
    assert "The password is incorrect." in field
    assert phone_of(member) == PHONE
    # The code to the new number was not used up by the wrong password.
    code = last_code(ATTACKER)
    client.post(CHANGE_PAGE, {"phone": ATTACKER, "code": code, "current_password": PASSWORD})
    assert phone_of(member) == ATTACKER


# The notice to the old number ----------------------------------------------------


def test_the_old_number_gets_a_notice_after_the_change_commits(
    member, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = page_change(client, current_password=PASSWORD)
        assert response.status_code == 200
    assert not [m for m in django_smsverify.outbox if m.to == [PHONE]]
    for callback in callbacks:
        callback()
    (notice,) = [m for m in django_smsverify.outbox if m.to == [PHONE]]
    assert notice.purpose == "notice_phone_changed"
    assert notice.params == []
    assert "changed" in notice.body
    assert last_code(NEW)  # the new number got only its code


def test_a_failed_notice_is_logged_and_the_change_stands(
    member, settings, caplog, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(member)
    assert client.post(CHANGE_PAGE, {"action": "send_code", "phone": NEW, **solved_captcha(client)})
    code = last_code(NEW)
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    with (
        caplog.at_level(logging.ERROR, logger="django_smsverify.adapter"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            CHANGE_PAGE, {"phone": NEW, "code": code, "current_password": PASSWORD}
        )
    assert response.status_code == 200
    assert phone_of(member) == NEW
    assert "could not send the phone change notice" in caplog.text


# Accounts without a password: a code to the current number ----------------------


@pytest.fixture
def passwordless():
    user = get_adapter().create_user(None, PHONE, None)
    PhoneNumber.objects.create(user=user, number=PHONE)
    return user


def test_passwordless_account_proves_with_a_code_to_its_current_number(
    passwordless, django_capture_on_commit_callbacks
):
    client, other = Client(), Client()
    client.force_login(passwordless)
    other.force_login(passwordless)
    page = client.get(CHANGE_PAGE).content.decode()
    assert 'name="current_password"' not in page
    assert 'name="current_code"' in page

    missing = page_change(client)
    assert missing.status_code == 400
    assert phone_of(passwordless) == PHONE

    sent = client.post(CHANGE_PAGE, {"action": "send_current_code", "phone": NEW})
    assert sent.status_code == 200
    assert "Code sent to 138****8000" in sent.content.decode()  # masked, see test_phone
    current = last_code(PHONE)
    wrong = page_change(client, current_code=wrong_code(current))
    assert wrong.status_code == 400
    assert "The verification code is incorrect." in wrong.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = page_change(client, current_code=current)
    assert response.status_code == 200, response.content.decode()
    assert phone_of(passwordless) == NEW
    assert logged_in(client)
    assert not logged_in(other)  # a new unusable password: a new session hash
    passwordless.refresh_from_db()
    assert not passwordless.has_usable_password()


def test_a_wrong_new_code_gives_the_current_code_back(passwordless):
    client = Client()
    client.force_login(passwordless)
    client.post(CHANGE_PAGE, {"action": "send_current_code"})
    current = last_code(PHONE)
    client.post(CHANGE_PAGE, {"action": "send_code", "phone": NEW, **solved_captcha(client)})
    bad = client.post(
        CHANGE_PAGE, {"phone": NEW, "code": wrong_code(last_code(NEW)), "current_code": current}
    )
    assert bad.status_code == 400
    good = client.post(CHANGE_PAGE, {"phone": NEW, "code": last_code(NEW), "current_code": current})
    assert good.status_code == 200, good.content.decode()
    assert phone_of(passwordless) == NEW


@pytest.mark.usefixtures("jwt")
def test_rest_current_code_endpoint(passwordless, settings):
    settings.SMSVERIFY = {**settings.SMSVERIFY, "RESEND_COOLDOWN": 60}
    tokens = simplejwt_tokens(None, passwordless)
    api = bearer(tokens["access"])
    response = api.post(API + "change/current-code/")
    assert response.status_code == 200
    assert response.json()["phone"] == PHONE
    assert "code" not in response.json()
    too_soon = api.post(API + "change/current-code/")
    assert too_soon.status_code == 429
    assert APIClient().post(API + "change/current-code/").status_code == 401
    PhoneNumber.objects.all().delete()
    nothing = bearer(simplejwt_tokens(None, passwordless)["access"])
    none = nothing.post(API + "change/current-code/")
    assert none.status_code == 400
    assert none.json() == {
        "non_field_errors": ["Your account has no phone number to send a code to."]
    }


def test_password_and_code_asks_for_both(member, settings):
    settings.SMSVERIFY = {**settings.SMSVERIFY, "PHONE_CHANGE_PROOF": "password_and_code"}
    client = Client()
    client.force_login(member)
    page = client.get(CHANGE_PAGE).content.decode()
    assert 'name="current_password"' in page
    assert 'name="current_code"' in page
    only_password = page_change(client, current_password=PASSWORD)
    assert only_password.status_code == 400
    assert phone_of(member) == PHONE
    client.post(CHANGE_PAGE, {"action": "send_current_code"})
    current = last_code(PHONE)
    client.post(CHANGE_PAGE, {"action": "send_code", "phone": NEW, **solved_captcha(client)})
    both = client.post(
        CHANGE_PAGE,
        {
            "phone": NEW,
            "code": last_code(NEW),
            "current_password": PASSWORD,
            "current_code": current,
        },
    )
    assert both.status_code == 200, both.content.decode()
    assert phone_of(member) == NEW


def test_end_other_sessions_never_drops_a_usable_password(member):
    with pytest.raises(ValueError, match="needs the password"):
        get_adapter().end_other_sessions(None, member, None)
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


# System checks -------------------------------------------------------------------


def ids(**kwargs) -> list[str]:
    return [m.id for m in run_checks(**kwargs) if m.id and m.id.startswith("smsverify.W50")]


def test_w503_plain_simplejwt_authentication_with_the_apps_tokens(settings):
    settings.SMSVERIFY = {"DRF": {"TOKEN_HOOK": JWT_HOOK}}
    settings.REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [PLAIN_JWT]}
    assert "smsverify.W503" in ids()
    settings.REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [APP_JWT]}
    assert "smsverify.W503" not in ids()
    settings.REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [PLAIN_JWT]}
    settings.SIMPLE_JWT = {"CHECK_REVOKE_TOKEN": True}
    assert "smsverify.W503" not in ids()
    settings.SIMPLE_JWT = {}
    settings.SMSVERIFY = {}  # the session hook issues no JWTs
    assert "smsverify.W503" not in ids()


def test_w504_simplejwt_refresh_view_with_the_apps_tokens(settings):
    settings.SMSVERIFY = {"DRF": {"TOKEN_HOOK": JWT_HOOK}}
    settings.ROOT_URLCONF = "tests.test_revocation"
    assert "smsverify.W504" not in ids()
    settings.ROOT_URLCONF = PlainRefreshUrls
    assert ids().count("smsverify.W504") == 1
    settings.SMSVERIFY = {}
    assert "smsverify.W504" not in ids()


def test_e006_unknown_phone_change_proof(settings):
    settings.SMSVERIFY = {"PHONE_CHANGE_PROOF": "code"}
    assert any(m.id == "smsverify.E006" and "PHONE_CHANGE_PROOF" in m.msg for m in run_checks())
