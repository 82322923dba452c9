"""Fuzzing (Hypothesis): arbitrary text and bytes in every form and JSON field of
the web flows never give a 500 and never send an SMS."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import django_smsverify

PAGES = [
    "/accounts/phone/register/",
    "/accounts/phone/login/",
    "/accounts/phone/password/reset/",
    "/accounts/phone/change/",
]
FIELDS = [
    "phone",
    "purpose",
    "code",
    "password",
    "password1",
    "password2",
    "captcha_0",
    "captcha_1",
    "action",
    "method",
    "next",
]

# Text, including NUL, surrogate-free unicode, huge strings and number-like text.
text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=20_000),
    st.from_regex(r"[+０-９0-9 ()\-.]{0,40}", fullmatch=True),
    st.sampled_from(
        [
            "",
            "\x00",
            "send_code",
            "password",
            "register",
            "13800138000",
            "+8613800138000",
            "https://evil.example/",
            "-1",
            "9" * 400,
        ]
    ),
)
form_data = st.dictionaries(st.sampled_from(FIELDS), text, max_size=len(FIELDS))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _captcha_on(settings):
    # The real captcha stays on: fuzzed requests must never get past it.
    settings.SMSVERIFY = {}


def assert_no_500_and_nothing_sent(response):
    assert response.status_code < 500 or response.status_code == 503, response.status_code
    assert response.status_code != 500
    assert django_smsverify.outbox == []


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user(username="member", password="x")


@FUZZ
@given(page=st.sampled_from(PAGES), data=form_data, logged_in=st.booleans())
def test_pages_survive_any_form(page, data, logged_in, member):
    client = Client()
    if logged_in:
        client.force_login(member)
    response = client.post(page, data)
    assert_no_500_and_nothing_sent(response)


@FUZZ
@given(data=form_data)
def test_send_code_form_encoded(data):
    assert_no_500_and_nothing_sent(Client().post("/accounts/phone/send-code/", data))


@FUZZ
@given(
    body=st.dictionaries(
        st.sampled_from([*FIELDS, "captcha", "captcha_key", "captcha_answer"]),
        json_values,
        max_size=6,
    )
    | json_values
)
def test_send_code_any_json(body):
    response = Client().post(
        "/accounts/phone/send-code/", json.dumps(body), content_type="application/json"
    )
    assert_no_500_and_nothing_sent(response)


@FUZZ
@given(
    raw=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/plain",
            "application/json; charset=utf-8",
        ]
    ),
)
def test_send_code_any_bytes(raw, content_type):
    response = Client().post("/accounts/phone/send-code/", raw, content_type=content_type)
    assert_no_500_and_nothing_sent(response)


# Charsets a client may declare, including codecs Python has but cannot decode
# with errors="replace" (idna), codecs that are not text (base64) and none at all.
CHARSETS = ["utf-8", "latin-1", "gbk", "utf-16", "utf-7", "idna", "punycode", "base64", "bogus"]
multipart_body = st.builds(
    lambda name, value: (
        b'--B\r\nContent-Disposition: form-data; name="'
        + name
        + b'"\r\n\r\n'
        + value
        + b"\r\n--B--\r\n"
    ),
    st.binary(max_size=40) | st.sampled_from([b"phone", b"action", b"\xff\xfe"]),
    st.binary(max_size=200),
)


@FUZZ
@given(
    page=st.sampled_from([*PAGES, "/accounts/phone/logout/", "/accounts/phone/send-code/"]),
    raw=multipart_body | st.binary(max_size=500),
    kind=st.sampled_from(["multipart/form-data; boundary=B", "application/x-www-form-urlencoded"]),
    charset=st.sampled_from(CHARSETS),
    logged_in=st.booleans(),
)
def test_pages_any_bytes_any_charset(page, raw, kind, charset, logged_in, member):
    client = Client()
    if logged_in:
        client.force_login(member)
    # generic() sends the bytes as they are; post() would re-encode them.
    response = client.generic("POST", page, raw, content_type=f"{kind}; charset={charset}")
    assert_no_500_and_nothing_sent(response)


@pytest.mark.parametrize("page", [*PAGES, "/accounts/phone/logout/"])
def test_page_multipart_body_in_idna_is_400(page, member):
    # Django's multipart parser raised UnicodeError for this (was a 500).
    client = Client()
    client.force_login(member)
    body = b'--B\r\nContent-Disposition: form-data; name="phone"\r\n\r\n13800138000\r\n--B--\r\n'
    response = client.generic(
        "POST", page, body, content_type="multipart/form-data; boundary=B; charset=idna"
    )
    assert response.status_code == 400
    assert django_smsverify.outbox == []


@FUZZ
@given(phone=text)
def test_phone_status_any_text(phone, settings):
    settings.SMSVERIFY = {"PREVENT_ENUMERATION": False, "PHONE_STATUS_LIMIT": 100_000}
    assert_no_500_and_nothing_sent(Client().get("/accounts/phone/status/", {"phone": phone}))


@FUZZ
@given(key=text, scale=text)
def test_captcha_image_any_key(key, scale):
    from urllib.parse import quote

    response = Client().get(f"/accounts/phone/captcha/{quote(key, safe='')}.png", {"scale": scale})
    assert response.status_code in (200, 404)


def test_send_code_json_nested_too_deep_is_400():
    # json.loads raises RecursionError, not ValueError, for this (was a 500).
    response = Client().post(
        "/accounts/phone/send-code/", b"[" * 100_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert django_smsverify.outbox == []
