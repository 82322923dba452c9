"""The human check is pluggable (``SMSVERIFY["HUMAN_CHECK"]``): a site's own
check (here a toy "slider" that accepts one token) replaces the image captcha
on the send-code page, the JSON endpoint, the ``captcha`` endpoint and the
REST API, without touching SendCodeForm; a bad token is a field error and
sends nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.test import APIClient

import django_smsverify
from django_smsverify import captcha
from django_smsverify.captcha.checks import check_human_check
from django_smsverify.captcha.fields import CaptchaField, HumanCheckField
from django_smsverify.exceptions import CaptchaInvalid, ServiceUnavailable
from django_smsverify.forms import SendCodeForm

PHONE = "+8613800138000"
GOOD = "slider-passed-token"
FAILED = "The slider was not completed. Please slide again."

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]

#: What each verify() saw: (had a request, data).
SEEN: list[tuple[bool, dict[str, str]]] = []


class SliderCheck(captcha.HumanCheck):
    """A stand-in for a slider service: the page gets a site id, the client
    posts back the token the service gave it."""

    fields = ("token",)
    label = "Slide to verify"

    def render(self, request: HttpRequest | None) -> dict[str, Any]:
        return {"site_id": "toy-site", "region": "cn"}

    def verify(self, request: HttpRequest | None, data: Mapping[str, str]) -> None:
        SEEN.append((request is not None, dict(data)))
        if data["token"] == "outage":
            raise ServiceUnavailable()
        if data["token"] != GOOD:
            raise CaptchaInvalid(FAILED)


class NotACheck:
    pass


@pytest.fixture(autouse=True)
def slider(settings):
    SEEN.clear()
    settings.SMSVERIFY = {"HUMAN_CHECK": "tests.test_human_check.SliderCheck"}


def test_the_image_captcha_is_the_default(settings):
    settings.SMSVERIFY = {}
    assert type(captcha.get_human_check()) is captcha.ImageCaptcha
    assert isinstance(SendCodeForm().fields["captcha"], CaptchaField)


def test_the_setting_picks_the_check_and_the_form_uses_it():
    assert type(captcha.get_human_check()) is SliderCheck
    field = SendCodeForm().fields["captcha"]
    assert isinstance(field, HumanCheckField)
    assert field.label == "Slide to verify"


def test_captcha_endpoint_serves_what_the_check_renders(client):
    response = client.get("/accounts/phone/captcha/")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "site_id": "toy-site", "region": "cn"}


def test_send_code_endpoint_accepts_a_good_token(client):
    data = {"phone": PHONE, "purpose": "register", "captcha_token": GOOD}
    response = client.post("/accounts/phone/send-code/", data, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["ok"] is True
    assert [m.to for m in django_smsverify.outbox] == [[PHONE]]
    assert SEEN == [(True, {"token": GOOD})]


@pytest.mark.parametrize("token", ["forged", "", None])
def test_send_code_endpoint_refuses_a_bad_or_missing_token_with_a_field_error(client, token):
    data = {"phone": PHONE, "purpose": "register"}
    if token is not None:
        data["captcha_token"] = token
    response = client.post("/accounts/phone/send-code/", data)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "errors": {"captcha": [FAILED]}}
    assert django_smsverify.outbox == []


def test_a_check_that_cannot_tell_is_503_and_sends_nothing(client):
    data = {"phone": PHONE, "purpose": "register", "captcha_token": "outage"}
    response = client.post("/accounts/phone/send-code/", data)
    assert response.status_code == 503
    assert django_smsverify.outbox == []


def test_send_code_page_shows_the_check_and_sends_with_a_good_token(client):
    page = client.get("/accounts/phone/register/").content.decode()
    assert 'name="captcha_token"' in page
    assert "data-smsverify-human-check" in page
    assert "smsverify-captcha-image" not in page
    assert "Slide to verify" in page

    data = {"action": "send_code", "phone": PHONE, "captcha_token": GOOD}
    response = client.post("/accounts/phone/register/", data)
    assert response.status_code == 200
    assert [m.to for m in django_smsverify.outbox] == [[PHONE]]


def test_send_code_page_refuses_a_bad_token_with_a_field_error(client):
    data = {"action": "send_code", "phone": PHONE, "captcha_token": "forged"}
    response = client.post("/accounts/phone/register/", data)
    assert FAILED in response.content.decode()
    assert response.context["send_form"].has_error("captcha", "captcha_invalid")
    assert django_smsverify.outbox == []


def test_rest_api_goes_through_the_check():
    api = APIClient()
    bad = api.post(
        "/api/phone/send-code/",
        {"phone": PHONE, "purpose": "register", "captcha_0": "forged"},
        format="json",
    )
    assert bad.status_code == 400
    assert [str(m) for m in bad.json()["captcha"]] == [FAILED]
    assert django_smsverify.outbox == []
    good = api.post(
        "/api/phone/send-code/",
        {"phone": PHONE, "purpose": "register", "captcha_0": GOOD},
        format="json",
    )
    assert good.status_code == 200, good.content
    assert [m.to for m in django_smsverify.outbox] == [[PHONE]]


def test_turning_the_captcha_off_turns_the_check_off(client, settings):
    settings.SMSVERIFY = {
        "HUMAN_CHECK": "tests.test_human_check.SliderCheck",
        "CAPTCHA": False,
    }
    data = {"phone": PHONE, "purpose": "register"}
    assert client.post("/accounts/phone/send-code/", data).status_code == 200
    assert client.get("/accounts/phone/captcha/").status_code == 404
    assert SEEN == []


@pytest.mark.parametrize(
    "path",
    ["tests.test_human_check.NotACheck", "tests.no_such_module.Check", 42],
)
def test_e205_a_wrong_human_check_setting(settings, path):
    settings.SMSVERIFY = {"HUMAN_CHECK": path}
    assert [e.id for e in check_human_check()] == ["smsverify.E205"]
    if isinstance(path, str):
        with pytest.raises(ImproperlyConfigured):
            captcha.get_human_check()


def test_e205_passes_for_the_default_and_a_subclass(settings):
    assert check_human_check() == []
    settings.SMSVERIFY = {}
    assert check_human_check() == []
