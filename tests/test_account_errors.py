"""When the database refuses an account for a reason that is not the number
(a username scheme that collides, a required field left empty), the user is
told so plainly, the cause is logged, and the code that proved the number
still works: nothing happened, so nothing was used up."""

from __future__ import annotations

import logging

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import IntegrityError
from rest_framework.test import APIClient

from django_smsverify import verification
from django_smsverify.adapter import DefaultAdapter
from django_smsverify.exceptions import FORM_MESSAGES, CodeExpired
from django_smsverify.models import PhoneNumber
from tests.helpers import api_send_code, last_code, solved_captcha

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"
SAVE_FAILED = str(FORM_MESSAGES["save_failed"])

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


class FixedUsernameAdapter(DefaultAdapter):
    """A site's own username scheme that collides with an existing user."""

    def username_for_phone(self, phone):
        return "taken"


@pytest.fixture
def colliding(settings):
    get_user_model().objects.create_user(username="taken", password=PASSWORD)
    settings.SMSVERIFY = {"ADAPTER": "tests.test_account_errors.FixedUsernameAdapter"}
    return settings


def registration(code):
    return {"phone": PHONE, "code": code, "password1": PASSWORD, "password2": PASSWORD}


def test_page_says_the_account_could_not_be_saved_and_the_code_still_works(
    client, colliding, caplog
):
    client.post(
        "/accounts/phone/register/",
        {"action": "send_code", "phone": PHONE, **solved_captcha(client)},
    )
    code = last_code()
    with caplog.at_level(logging.ERROR, logger="django_smsverify.forms"):
        response = client.post("/accounts/phone/register/", registration(code))
    page = response.content.decode()
    assert response.status_code == 400
    assert response.context["form"].errors == {"__all__": [SAVE_FAILED]}
    assert SAVE_FAILED in page
    assert get_user_model().objects.count() == 1
    assert PhoneNumber.objects.count() == 0
    # The log names the real cause, with its traceback.
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "register could not be saved" in record.getMessage()
    assert record.exc_info and isinstance(record.exc_info[1], IntegrityError)

    # The site fixes its adapter; the same code signs the user up.
    colliding.SMSVERIFY = {}
    response = client.post("/accounts/phone/register/", registration(code))
    assert response.status_code == 302, response.content.decode()
    assert PhoneNumber.objects.get().number == PHONE


def test_api_answers_the_same_error(colliding):
    api = APIClient()
    api_send_code(api, PHONE, "register")
    response = api.post("/api/phone/register/", registration(last_code()), format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [SAVE_FAILED]}


def test_one_step_login_that_cannot_save_keeps_the_code(client, colliding):
    colliding.SMSVERIFY = {**colliding.SMSVERIFY, "LOGIN_CREATES_USER": True}
    client.post(
        "/accounts/phone/login/", {"action": "send_code", "phone": PHONE, **solved_captcha(client)}
    )
    code = last_code()
    response = client.post("/accounts/phone/login/", {"phone": PHONE, "code": code})
    assert response.status_code == 400
    assert response.context["form"].errors == {"__all__": [SAVE_FAILED]}
    assert SAVE_FAILED in response.content.decode()
    colliding.SMSVERIFY = {"LOGIN_CREATES_USER": True}
    response = client.post("/accounts/phone/login/", {"phone": PHONE, "code": code})
    assert response.status_code == 302


# The store step behind it, on every store -------------------------------------


def test_a_restored_code_passes_again_until_it_would_have_expired():
    with time_machine.travel("2026-12-07 12:00:00Z", tick=False) as clock:
        verification.send_code(PHONE, "register")
        code = last_code()
        verified = verification.verify_code(PHONE, code, "register")
        with pytest.raises(CodeExpired):  # used up
            verification.check_code(PHONE, code, "register")
        verification.restore_code(verified)
        assert verification.check_code(PHONE, code, "register") == PHONE

        verification.restore_code(verified)
        clock.shift(301)  # past the code's own expiry: restoring cannot extend it
        with pytest.raises(CodeExpired):
            verification.check_code(PHONE, code, "register")
        verification.restore_code(verified)
        with pytest.raises(CodeExpired):
            verification.check_code(PHONE, code, "register")


def test_restoring_never_replaces_a_newer_code():
    with time_machine.travel("2026-12-07 12:00:00Z", tick=False) as clock:
        verification.send_code(PHONE, "register")
        old = last_code()
        verified = verification.verify_code(PHONE, old, "register")
        clock.shift(61)
        verification.send_code(PHONE, "register")
        new = last_code()
        verification.restore_code(verified)
        if old != new:
            with pytest.raises(verification.CodeMismatch):
                verification.check_code(PHONE, old, "register")
        assert verification.check_code(PHONE, new, "register") == PHONE
