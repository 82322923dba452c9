"""The REST API (django_smsverify.contrib.rest_framework): every endpoint, its
answers and errors, and the same enumeration properties as the web flows."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

import django_smsverify
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.forms import RegistrationForm
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code, wrong_code

API = "/api/phone/"
PHONE = "+8613800138000"
OTHER = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


@pytest.fixture
def api():
    return APIClient()


def solved(api) -> dict[str, str]:
    key = api.get(API + "captcha/").json()["key"]
    return {"captcha_key": key, "captcha_answer": answer_for(key)}


def send(api, phone=PHONE, purpose="register", **extra):
    return api.post(
        API + "send-code/",
        {"phone": phone, "purpose": purpose, **solved(api)},
        format="json",
        **extra,
    )


def make_user(phone=PHONE, password=PASSWORD, **fields):
    user = get_user_model().objects.create_user(username=phone, password=password, **fields)
    PhoneNumber.objects.create(user=user, number=phone)
    return user


def register(api, phone=PHONE, password=PASSWORD):
    assert send(api, phone).status_code == 200
    body = {"phone": phone, "code": last_code(phone), "password1": password, "password2": password}
    return api.post(API + "register/", body, format="json")


def session_user(api):
    return api.get("/welcome/").wsgi_request.user


# Captcha ---------------------------------------------------------------------


def test_captcha_gives_a_key_and_image_urls_that_serve_the_png(api):
    response = api.get(API + "captcha/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"key", "image_url", "image_url_2x", "expires_in"}
    assert body["expires_in"] == 300
    assert body["image_url"] == f"http://testserver/api/phone/captcha/{body['key']}.png"
    assert body["image_url_2x"] == body["image_url"] + "?scale=2"
    image = api.get(body["image_url"])
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert "csrftoken" in response.cookies  # for the session-login endpoints


def test_captcha_is_404_when_turned_off(api, settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    response = api.get(API + "captcha/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_captcha_store_down_is_503(api, settings):
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    response = api.get(API + "captcha/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["detail"]


# Send code -------------------------------------------------------------------


def test_send_code_answers_timings_and_never_the_code(api):
    response = send(api, phone="138 0013 8000")
    assert response.status_code == 200
    assert response.json() == {
        "phone": PHONE,
        "resend_after": 60,
        "expires_in": 300,
        "delivery": "sent",
    }
    assert last_code() not in response.content.decode()
    assert len(django_smsverify.outbox) == 1


def test_send_code_form_encoded(api):
    data = {"phone": PHONE, "purpose": "login", **solved(api)}
    make_user()
    assert api.post(API + "send-code/", data).status_code == 200
    assert len(django_smsverify.outbox) == 1


def test_invalid_number_is_a_drf_field_error(api):
    response = send(api, phone="12345")
    assert response.status_code == 400
    assert response.json() == {"phone": ["Enter a valid mobile phone number."]}
    assert django_smsverify.outbox == []


@pytest.mark.parametrize("answer", ["", "WRONG"])
def test_unsolved_captcha_sends_nothing(api, answer):
    data = {"phone": PHONE, "purpose": "register", **solved(api), "captcha_answer": answer}
    response = api.post(API + "send-code/", data, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["captcha_answer"]
    assert django_smsverify.outbox == []


def test_a_captcha_solves_one_send_only(api):
    captcha = solved(api)
    first = api.post(
        API + "send-code/", {"phone": PHONE, "purpose": "register", **captcha}, format="json"
    )
    assert first.status_code == 200
    again = api.post(
        API + "send-code/", {"phone": OTHER, "purpose": "register", **captcha}, format="json"
    )
    assert again.status_code == 400
    assert again.json()["captcha_answer"] == [
        "The characters did not match the image. Please type the ones in the new image."
    ]


def test_missing_fields_and_unknown_purpose(api):
    response = api.post(API + "send-code/", {"purpose": "admin"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["phone"] == ["This field is required."]
    assert "purpose" in body
    assert "captcha_key" in body


def test_captcha_fields_are_not_asked_for_when_turned_off(api, settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    response = api.post(API + "send-code/", {"phone": PHONE, "purpose": "register"}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        '"text"',
        "null",
        '{"phone": ["13800138000"], "purpose": {"a": 1}, "captcha_key": null}',
        '{"phone": "138\\u0000", "purpose": "login", "captcha_key": 1, "captcha_answer": true}',
    ],
)
def test_malformed_bodies_are_400_never_500(api, body):
    response = api.post(API + "send-code/", body, content_type="application/json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert django_smsverify.outbox == []


def test_resend_too_soon_is_429_with_retry_after(api):
    assert send(api).status_code == 200
    response = send(api)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    body = response.json()
    assert body["retry_after"] == 60
    assert body["detail"] == "You can ask for another code in 60 seconds."
    assert len(django_smsverify.outbox) == 1


def test_store_down_is_503_and_nothing_is_sent(api, settings):
    captcha = solved(api)  # the captcha lives in the same store: solve it first
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    response = api.post(
        API + "send-code/", {"phone": PHONE, "purpose": "register", **captcha}, format="json"
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "detail" in response.json()
    assert django_smsverify.outbox == []


def test_provider_failure_is_503(api, settings):
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    response = send(api)
    assert response.status_code == 503
    assert response.json()["detail"] == (
        "The text message could not be sent. Please try again later."
    )


def test_a_session_user_must_send_the_csrf_token(api):
    """REST framework's SessionAuthentication: logged-in session users need CSRF."""
    strict = APIClient(enforce_csrf_checks=True)
    strict.force_login(make_user())
    data = {"phone": OTHER, "purpose": "change_phone", **solved(strict)}
    response = strict.post(API + "send-code/", data, format="json")
    assert response.status_code == 403
    assert django_smsverify.outbox == []
    token = strict.cookies["csrftoken"].value
    ok = strict.post(
        API + "send-code/",
        {**data, **solved(strict)},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 200


# Enumeration -----------------------------------------------------------------


def test_register_on_a_registered_number_answers_like_any_other(api):
    make_user()
    registered = send(api, phone=PHONE).json()
    fresh = send(api, phone=OTHER).json()
    assert registered.pop("phone") == PHONE
    assert fresh.pop("phone") == OTHER
    assert registered == fresh
    notice, code_sms = django_smsverify.outbox
    assert notice.to == [PHONE]
    assert notice.params == []  # no code to a registered number
    assert code_sms.params
    # and the registered number now cools down exactly like the other one
    again_registered, again_fresh = send(api, phone=PHONE), send(api, phone=OTHER)
    assert again_registered.status_code == again_fresh.status_code == 429
    assert again_registered.json() == again_fresh.json()


def test_login_on_an_unknown_number_answers_like_a_known_one(api):
    make_user()
    known = send(api, phone=PHONE, purpose="login")
    unknown = send(api, phone=OTHER, purpose="login")
    assert known.status_code == unknown.status_code == 200
    assert {**known.json(), "phone": ""} == {**unknown.json(), "phone": ""}
    assert "no account uses it" in django_smsverify.outbox[1].body


def test_phone_status_is_404_when_enumeration_is_prevented(api):
    response = api.get(API + "status/", {"phone": PHONE})
    assert response.status_code == 404
    assert list(response.json()) == ["detail"]


def test_without_prevention_the_api_tells(api, settings):
    settings.SMSVERIFY = {"PREVENT_ENUMERATION": False, "PHONE_STATUS_LIMIT": 3}
    make_user()
    response = send(api, phone=PHONE)
    assert response.status_code == 400
    assert response.json() == {"phone": ["This number is already registered. Log in instead."]}
    response = send(api, phone=OTHER, purpose="login")
    assert response.json() == {"phone": ["No account uses this number."]}
    assert django_smsverify.outbox == []

    status = api.get(API + "status/", {"phone": "138 0013 8000"})
    assert status.json() == {"phone": PHONE, "registered": True}
    assert api.get(API + "status/", {"phone": OTHER}).json()["registered"] is False
    bad = api.get(API + "status/", {"phone": "bogus"})
    assert bad.status_code == 400
    assert bad.json() == {"phone": ["Enter a valid mobile phone number."]}
    limited = api.get(API + "status/", {"phone": PHONE})
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 3500
    assert limited.json()["retry_after"] == int(limited["Retry-After"])


def test_phone_status_store_down_is_503(api, settings):
    settings.SMSVERIFY = {"PREVENT_ENUMERATION": False}
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    assert api.get(API + "status/", {"phone": PHONE}).status_code == 503


# Register --------------------------------------------------------------------


def test_register_creates_the_user_and_logs_in_with_a_session(api):
    response = register(api)
    assert response.status_code == 201
    user = get_user_model().objects.get()
    assert response.json() == {"user_id": user.pk, "token": None}
    assert user.check_password(PASSWORD)
    assert PhoneNumber.objects.get().number == PHONE
    assert session_user(api) == user
    assert "no-cache" in response["Cache-Control"]


def test_register_password_errors_keep_the_code(api):
    assert send(api).status_code == 200
    code = last_code()
    body = {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": "different"}
    response = api.post(API + "register/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"password2": ["The two passwords do not match."]}
    weak = {**body, "password1": "123", "password2": "123"}
    response = api.post(API + "register/", weak, format="json")
    assert response.status_code == 400
    assert "password1" in response.json()
    # neither attempt used the code up
    good = {**body, "password2": PASSWORD}
    assert api.post(API + "register/", good, format="json").status_code == 201


def test_password_keeps_surrounding_spaces(api):
    password = f"  {PASSWORD}  "
    assert register(api, password=password).status_code == 201
    assert get_user_model().objects.get().check_password(password)


def test_register_wrong_code_then_too_many_attempts(api):
    assert send(api).status_code == 200
    code = last_code()
    body = {"phone": PHONE, "password1": PASSWORD, "password2": PASSWORD}
    for left in (4, 3, 2, 1):
        response = api.post(API + "register/", {**body, "code": wrong_code(code)}, format="json")
        assert response.status_code == 400
        plural = "attempt" if left == 1 else "attempts"
        assert response.json() == {
            "code": [f"The verification code is incorrect. {left} {plural} left."]
        }
    response = api.post(API + "register/", {**body, "code": wrong_code(code)}, format="json")
    # The lock-out says how long it lasts (the window: as long as the code lived).
    assert response.json()["code"] == [
        "Too many incorrect codes. You can ask for a new code in 5 minutes."
    ]
    response = api.post(API + "register/", {**body, "code": code}, format="json")
    assert response.status_code == 400
    assert get_user_model().objects.count() == 0


def test_a_code_is_good_for_one_registration_only(api):
    assert register(api).status_code == 201
    body = {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD}
    response = APIClient().post(API + "register/", body, format="json")
    assert response.status_code == 400
    assert "code" in response.json()


def test_a_code_for_another_purpose_does_not_register(api):
    make_user(phone=OTHER)
    assert send(api, phone=PHONE, purpose="login").status_code == 200  # a notice
    assert send(api, phone=OTHER, purpose="login").status_code == 200
    body = {"phone": OTHER, "code": last_code(OTHER), "password1": PASSWORD, "password2": PASSWORD}
    response = api.post(API + "register/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"]


def test_register_store_down_is_503(api, settings):
    assert send(api).status_code == 200
    body = {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD}
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    response = api.post(API + "register/", body, format="json")
    assert response.status_code == 503
    assert get_user_model().objects.count() == 0


def test_register_losing_the_race_for_the_number_is_400(api, monkeypatch):
    """A rival takes the number between the code check and the save: the
    unique constraint refuses the second account; the form's error comes back."""
    from django_smsverify import verification

    assert send(api).status_code == 200
    body = {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD}
    original = verification.verify_code

    def verify_then_a_rival_registers(phone, code, purpose, **kwargs):
        verified = original(phone, code, purpose, **kwargs)
        rival = get_user_model().objects.create_user(username="rival")
        PhoneNumber.objects.create(user=rival, number=verified.phone)
        return verified

    monkeypatch.setattr(verification, "verify_code", verify_then_a_rival_registers)
    response = api.post(API + "register/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"phone": ["This number is already registered. Log in instead."]}


# Log in ----------------------------------------------------------------------


def test_sms_login(api):
    user = make_user()
    assert send(api, purpose="login").status_code == 200
    body = {"phone": "13800138000", "code": last_code()}
    response = api.post(API + "login/", body, format="json")
    assert response.status_code == 200
    assert response.json() == {"user_id": user.pk, "token": None}
    assert session_user(api) == user


def test_sms_login_inactive_user(api):
    make_user(is_active=False)
    assert send(api, purpose="login").status_code == 200
    response = api.post(API + "login/", {"phone": PHONE, "code": last_code()}, format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["This account is inactive."]}


def test_sms_login_needs_a_code_sent_for_login(api):
    make_user()
    response = api.post(API + "login/", {"phone": PHONE, "code": "123456"}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()


def test_password_login(api):
    user = make_user()
    response = api.post(
        API + "login/password/", {"phone": "138-0013-8000", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"user_id": user.pk, "token": None}
    assert session_user(api) == user
    bad = api.post(API + "login/password/", {"phone": PHONE, "password": "nope"}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {"non_field_errors": ["The number or the password is incorrect."]}


def test_session_login_endpoints_check_csrf(api):
    """With the session hook, a cross-site post could log a visitor in to the
    attacker's account (login CSRF): these endpoints want the CSRF token."""
    make_user()
    strict = APIClient(enforce_csrf_checks=True)
    body = {"phone": PHONE, "password": PASSWORD}
    refused = strict.post(API + "login/password/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF Failed")
    strict.get(API + "captcha/")  # sets the cookie
    token = strict.cookies["csrftoken"].value
    ok = strict.post(API + "login/password/", body, format="json", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 200


# Password reset --------------------------------------------------------------


def test_password_reset(api):
    user = make_user()
    assert send(api, purpose="reset_password").status_code == 200
    new = "An0ther-horse-battery"
    body = {"phone": PHONE, "code": last_code(), "password1": new, "password2": new}
    response = api.post(API + "password/reset/", body, format="json")
    assert response.status_code == 200
    assert response.json() == {"detail": "Your password has been reset. Log in with the new one."}
    user.refresh_from_db()
    assert user.check_password(new)
    assert not session_user(api).is_authenticated  # a reset does not log in


def test_password_reset_unknown_number_gets_a_notice_and_no_usable_code(api):
    assert send(api, purpose="reset_password").status_code == 200
    assert django_smsverify.outbox[0].params == []
    body = {"phone": PHONE, "code": "000000", "password1": PASSWORD, "password2": PASSWORD}
    response = api.post(API + "password/reset/", body, format="json")
    assert response.status_code == 400


# Phone change ----------------------------------------------------------------


def test_phone_change_requires_authentication(api):
    response = api.post(API + "change/", {"phone": OTHER, "code": "123456"}, format="json")
    assert response.status_code == 403  # SessionAuthentication: 403, not 401
    assert "detail" in response.json()


def test_phone_change(api):
    user = make_user()
    api.force_login(user)
    assert send(api, phone=OTHER, purpose="change_phone").status_code == 200
    body = {"phone": OTHER, "code": last_code(OTHER), "current_password": PASSWORD}
    response = api.post(API + "change/", body, format="json")
    assert response.status_code == 200
    assert response.json() == {"phone": OTHER}
    assert PhoneNumber.objects.get(user=user).number == OTHER


def test_phone_change_to_own_number_is_refused(api):
    api.force_login(make_user())
    response = send(api, phone=PHONE, purpose="change_phone")
    assert response.status_code == 400
    assert response.json() == {"phone": ["This is already your number."]}


def test_phone_change_code_must_be_sent_to_the_new_number(api):
    user = make_user()
    api.force_login(user)
    assert send(api, phone=OTHER, purpose="change_phone").status_code == 200
    third = "+8613700137000"
    body = {"phone": third, "code": last_code(OTHER), "current_password": PASSWORD}
    response = api.post(API + "change/", body, format="json")
    assert response.status_code == 400
    assert PhoneNumber.objects.get(user=user).number == PHONE


def test_send_code_for_change_phone_needs_a_logged_in_user(api):
    response = send(api, phone=OTHER, purpose="change_phone")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Log in first."]}


# Swapped forms -----------------------------------------------------------------


class RegistrationWithTerms(RegistrationForm):
    """A site's own registration form: one more field, one more rule."""

    terms = forms.BooleanField(error_messages={"required": "Accept the terms to sign up."})


def test_a_swapped_form_brings_its_fields_and_rules_to_the_api(api, settings):
    settings.SMSVERIFY = {"FORMS": {"register": "tests.test_api_flows.RegistrationWithTerms"}}
    assert send(api).status_code == 200
    body = {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD}
    response = api.post(API + "register/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"terms": ["Accept the terms to sign up."]}
    schema = api.get(API + "schema/").json()
    assert "terms" in schema["components"]["schemas"]["Register"]["properties"]
    response = api.post(API + "register/", {**body, "terms": True}, format="json")
    assert response.status_code == 201
