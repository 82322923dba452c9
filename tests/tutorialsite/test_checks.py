"""The checks on the tutorial-style user model: ``mobile`` is required,
unique and 11 characters long."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from django_smsverify.account_checks import check_new_user_fields, check_user_phone_field
from django_smsverify.exceptions import FORM_MESSAGES
from tests.helpers import last_code, solved_captcha

PASSWORD = "Tr1cky-horse-battery"


def test_user_field_in_national_digits_passes(settings):
    assert settings.SMSVERIFY == {"USER_PHONE_FIELD": "mobile", "USER_PHONE_FORMAT": "national"}
    assert check_user_phone_field() == []
    assert check_new_user_fields() == []


def test_e009_e164_does_not_fit_eleven_characters(settings):
    settings.SMSVERIFY = {"USER_PHONE_FIELD": "mobile"}
    [error] = check_user_phone_field()
    assert error.id == "smsverify.E009"
    assert "tutorialsite.User.mobile holds at most 11 characters" in error.msg
    assert "'national'" in error.hint


def test_e009_national_with_other_regions_needs_room_for_e164(settings):
    settings.SMSVERIFY = {
        "USER_PHONE_FIELD": "mobile",
        "USER_PHONE_FORMAT": "national",
        "ALLOWED_REGIONS": ["CN", "HK"],
    }
    [error] = check_user_phone_field()
    assert error.id == "smsverify.E009"
    assert "need 16" in error.msg


def test_w011_default_storage_leaves_the_unique_mobile_empty(settings):
    settings.SMSVERIFY = {}
    [warning] = check_new_user_fields()
    assert warning.id == "smsverify.W011"
    assert "mobile (unique)" in warning.msg
    assert "USER_PHONE_FIELD" in warning.hint


@pytest.mark.django_db
def test_what_w011_warns_of_is_a_clear_error_not_already_registered(client, settings):
    """Without USER_PHONE_FIELD the first sign-up stores mobile='' and the
    second collides on it: that is answered as a failed save, never as the
    number being registered, and the code is kept."""
    from django.core.cache import caches

    settings.SMSVERIFY = {}
    for phone in ("+8613900000001", "+8613900000002"):
        caches["default"].clear()
        client.post(
            "/accounts/phone/register/",
            {"action": "send_code", "phone": phone, **solved_captcha(client)},
        )
        response = client.post(
            "/accounts/phone/register/",
            {"phone": phone, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD},
        )
        client.post("/accounts/phone/logout/")
    assert response.status_code == 400
    assert response.context["form"].errors == {"__all__": [str(FORM_MESSAGES["save_failed"])]}
    assert get_user_model().objects.count() == 1
