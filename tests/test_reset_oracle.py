"""Password reset tells nothing about an account before its code is right: a
new password that the validators would refuse for the registered user (too
like the username or the name) used to be refused at once, and only for
registered numbers, with nothing counted. Issue 15, point 4."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from django_smsverify.models import PhoneNumber
from tests.helpers import last_code, solved_captcha

REGISTERED = "+8613800138000"
UNREGISTERED = "+8613900139000"
PAGE = "/accounts/phone/password/reset/"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


@pytest.fixture
def legacy_user():
    """An account from before generated usernames: its username is the number."""
    user = get_user_model().objects.create_user(
        username=REGISTERED, first_name="zhangsanfeng", password="Old-passw0rd-here"
    )
    PhoneNumber.objects.create(user=user, number=REGISTERED)
    return user


def reset(client, phone, password, code="000000"):
    return client.post(
        PAGE, {"phone": phone, "code": code, "password1": password, "password2": password}
    )


@pytest.mark.usefixtures("legacy_user")
@pytest.mark.parametrize("password", ["+8613800138000", "zhangsanfeng!", "Tr1cky-horse-battery"])
def test_page_answers_alike_before_the_code_is_checked(client, password):
    answers = []
    for phone in (REGISTERED, UNREGISTERED):
        response = reset(client, phone, password.replace(REGISTERED, phone))
        answers.append((response.status_code, response.context["form"].errors))
    assert answers[0] == answers[1]


@pytest.mark.usefixtures("legacy_user")
def test_api_answers_alike_before_the_code_is_checked():
    api = APIClient()
    answers = []
    for phone in (REGISTERED, UNREGISTERED):
        body = {"phone": phone, "code": "000000", "password1": "zhangsanfeng!"}
        body["password2"] = body["password1"]
        response = api.post("/api/phone/password/reset/", body, format="json")
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]


def test_the_owner_is_told_after_the_code_and_keeps_the_code(client, legacy_user):
    client.post(PAGE, {"action": "send_code", "phone": REGISTERED, **solved_captcha(client)})
    code = last_code()
    response = reset(client, REGISTERED, "zhangsanfeng!", code)
    assert response.status_code == 400
    assert "first name" in " ".join(response.context["form"].errors["password1"])
    response = reset(client, REGISTERED, "Tr1cky-horse-battery", code)
    assert response.status_code == 200, response.content.decode()
    legacy_user.refresh_from_db()
    assert legacy_user.check_password("Tr1cky-horse-battery")
