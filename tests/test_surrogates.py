"""Lone surrogates never make a 500 (issue 15, point 9). A JSON ``"\\ud800"``
or a form body declared ``charset=utf-7`` carrying ``+2AA-`` reaches the app
as text that strict UTF-8 cannot encode; it used to crash the code and
captcha HMACs and Django's password hasher. Every field of every page and
endpoint is tried, with a live code and a solved captcha so the deep paths run."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_smsverify import verification
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.models import PhoneNumber
from tests.helpers import last_code

PHONE = "+8613800138000"
PASSWORD = "Tr1cky-horse-battery"
LONE = "\ud800"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]

PAGES = {
    "/accounts/phone/register/": ["phone", "code", "password1", "password2"],
    "/accounts/phone/login/": ["phone", "code"],
    "/accounts/phone/password/reset/": ["phone", "code", "password1", "password2"],
    "/accounts/phone/change/": ["phone", "code"],
}
PASSWORD_LOGIN = ["phone", "password"]
SEND = ["phone", "purpose", "captcha_0", "captcha_1"]
API = {
    "/api/phone/send-code/": ["phone", "purpose", "captcha_key", "captcha_answer"],
    "/api/phone/register/": ["phone", "code", "password1", "password2"],
    "/api/phone/login/": ["phone", "code"],
    "/api/phone/login/password/": ["phone", "password"],
    "/api/phone/password/reset/": ["phone", "code", "password1", "password2"],
    "/api/phone/change/": ["phone", "code"],
}


@pytest.fixture
def member(client):
    user = get_user_model().objects.create_user(username="member", password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=PHONE)
    return user


def good_values(client, purpose):
    """Values that pass, so only the one field under test is odd."""
    key = client.get("/accounts/phone/captcha/").json()["key"]
    verification.send_code(PHONE if purpose != "register" else "+8613900139000", purpose)
    phone = PHONE if purpose != "register" else "+8613900139000"
    return {
        "phone": phone,
        "purpose": purpose,
        "code": last_code(),
        "password": PASSWORD,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "captcha_0": key,
        "captcha_1": answer_for(key),
        "captcha_key": key,
        "captcha_answer": answer_for(key),
    }


PURPOSE_OF = {
    "register": "register",
    "login": "login",
    "reset": "reset_password",
    "change": "change_phone",
    "send-code": "login",
}


def purpose_for(path):
    for part, purpose in PURPOSE_OF.items():
        if f"/{part}/" in path:
            return purpose
    return "login"


BOUNDARY = "smsverify-boundary"
UTF7_MULTIPART = f"multipart/form-data; charset=utf-7; boundary={BOUNDARY}"


def utf7_body(fields):
    """A multipart body whose declared charset is utf-7 (Django refuses any
    charset but UTF-8 on url-encoded bodies, not on multipart ones)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode("utf-7")
        + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post_utf7(client, path, fields):
    # generic(), not post(): post() re-encodes a body to the declared charset,
    # which would turn utf-7's "+" into "+-".
    return client.generic("POST", path, utf7_body(fields), content_type=UTF7_MULTIPART)


def cases():
    for path, fields in PAGES.items():
        for field in fields:
            yield path, field, fields, {}
        for field in SEND:
            yield path, field, SEND, {"action": "send_code"}
    for field in PASSWORD_LOGIN:
        yield "/accounts/phone/login/", field, PASSWORD_LOGIN, {"method": "password"}


@pytest.mark.parametrize(("path", "field", "fields", "extra"), list(cases()))
def test_pages_answer_a_utf7_lone_surrogate_without_500(client, member, path, field, fields, extra):
    client.force_login(member)
    if "change" not in path:
        client.logout()
    values = good_values(client, purpose_for(path) if "action" not in extra else "login")
    body = {name: values[name] for name in fields} | extra
    body[field] = body[field][:2] + LONE
    response = post_utf7(client, path, body)
    # Refused whole: such text can be neither rendered back nor hashed.
    assert response.status_code == 400, response.status_code
    # The same body with the field in plain text is read as a form.
    body[field] = body[field][:2] + "x"
    assert post_utf7(client, path, body).context is not None


@pytest.mark.parametrize("field", SEND)
def test_json_send_code_answers_a_lone_surrogate_without_500(client, field):
    values = good_values(client, "login")
    body = {name: values[name] for name in SEND}
    body[field] = LONE
    response = client.post(
        "/accounts/phone/send-code/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    ("path", "field"), [(path, field) for path, fields in API.items() for field in fields]
)
def test_api_answers_a_lone_surrogate_without_500(client, member, path, field):
    from rest_framework.test import APIClient

    api = APIClient()
    if "change" in path:
        api.force_authenticate(member)
    values = good_values(client, purpose_for(path))
    body = {name: values[name] for name in API[path]}
    body[field] = body[field][:2] + LONE
    response = api.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code in (400, 403), (response.status_code, response.content)


def test_forms_refuse_a_surrogate_password_and_keep_the_code(member):
    """Sites call the forms directly too: the deepest path is a right code,
    then a password Django's hasher cannot take."""
    from django_smsverify.forms import PasswordLoginForm, RegistrationForm

    phone = "+8613900139000"
    verification.send_code(phone, "register")
    code = last_code()
    form = RegistrationForm(
        {"phone": phone, "code": code, "password1": PASSWORD + LONE, "password2": PASSWORD + LONE}
    )
    assert not form.is_valid()
    assert form.errors["password1"] == ["This contains characters that are not valid text."]
    assert verification.check_code(phone, code, "register") == phone  # not used up

    form = PasswordLoginForm({"phone": PHONE, "password": PASSWORD + LONE})
    assert not form.is_valid()
    assert "password" in form.errors


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(st.characters(categories=["Cs", "Lu", "Nd", "Po"]), min_size=1, max_size=8))
def test_engine_takes_any_text_as_a_code(text):
    from django_smsverify.exceptions import CodeError

    with pytest.raises(CodeError):
        verification.check_code(PHONE, text, "login")
