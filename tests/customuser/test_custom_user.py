"""Registration and SMS login with a user model that has no username field."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.helpers import last_code, solved_captcha

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"

pytestmark = pytest.mark.django_db


def test_the_custom_model_is_in_use():
    assert get_user_model()._meta.label == "customuser.User"
    assert not hasattr(get_user_model(), "username")


def test_register_and_log_in_by_sms(client):
    client.post(
        "/accounts/phone/register/",
        {"action": "send_code", "phone": PHONE, **solved_captcha(client)},
    )
    response = client.post(
        "/accounts/phone/register/",
        {"phone": PHONE, "code": last_code(), "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()
    user = get_user_model().objects.get()
    assert user.email is None
    assert user.smsverify_phone.number == PHONE
    assert user.check_password(PASSWORD)

    client.logout()
    client.post(
        "/accounts/phone/login/",
        {"action": "send_code", "phone": PHONE, **solved_captcha(client)},
    )
    response = client.post("/accounts/phone/login/", {"phone": PHONE, "code": last_code()})
    assert response.status_code == 302
    assert client.get("/welcome/").content.decode().count("<p id='who'>") == 1


def test_password_login_through_phone_backend(client):
    from django.contrib.auth import authenticate

    from django_smsverify.adapter import get_adapter
    from django_smsverify.models import PhoneNumber

    user = get_adapter().create_user(None, PHONE, PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    assert authenticate(None, phone="13800138000", password=PASSWORD) == user
