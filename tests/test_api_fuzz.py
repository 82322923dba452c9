"""Fuzzing (Hypothesis) of the REST API (django_smsverify.contrib.rest_framework).

For every POST endpoint, read from the API's urls module: arbitrary JSON values
in every field (text with NUL, lone surrogates and huge strings, numbers,
floats with NaN and infinities, nested lists and dicts, null), arbitrary form
fields (repeated keys, file uploads) and arbitrary raw bytes under several
content types and charsets; anonymous, logged in by session or by JWT, or with
a garbage Authorization header. No answer is a 500, no SMS goes out, and no
user or phone number is created or changed. The real captcha stays on, as in
test_fuzz.py, so fuzzed input must never get a code sent.

Each example starts from an empty store; when drawn, a code has been sent (and
the outbox emptied) for the number the endpoint checks, so code checks meet a
live code, and the request may carry a real, unsolved captcha key.

schemathesis (test_api_schemathesis.py) checks the answers against the schema;
this file checks what must not happen behind them.

The inputs found to make a 500 while this file was written (fixed since) are
also posted to every endpoint, every time, at the end of this file.
"""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import override_settings
from django.urls import URLPattern, resolve, reverse
from django.urls.converters import IntConverter, UUIDConverter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

import django_smsverify
from django_smsverify import verification
from django_smsverify.conf import PURPOSES
from django_smsverify.contrib.rest_framework import urls as api_urls
from django_smsverify.models import PhoneNumber, SmsDelivery

MEMBER_PHONE = "+8613800138000"
NEW_PHONE = "+8613900139000"
PASSWORD = "Tr1cky-horse-battery"

#: Every POST endpoint of the API (URL name in ``smsverify_api``), with the
#: number and purpose of the code it checks (sent before a "primed" example).
#: test_every_post_endpoint_is_fuzzed fails when the urls module has another.
ENDPOINTS: dict[str, tuple[str, str] | None] = {
    "send_code": (MEMBER_PHONE, "login"),  # a live code, and its resend cooldown
    "register": (NEW_PHONE, "register"),
    "login": (MEMBER_PHONE, "login"),
    "password_login": None,
    "password_reset": (MEMBER_PHONE, "reset_password"),
    "phone_change": (NEW_PHONE, "change_phone"),
}

#: POST endpoints without a request body: nothing to fuzz.
NO_INPUT = {"phone_change_code"}

SESSION_HOOK = "django_smsverify.contrib.rest_framework.tokens.session_login"
JWT_HOOK = "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"
# Not BasicAuthentication: its user lookup is Django's, not this app's (and a
# NUL in the user name, "Basic AAAA", is a database error on PostgreSQL).
AUTH_CLASSES = [
    "rest_framework.authentication.SessionAuthentication",
    "rest_framework_simplejwt.authentication.JWTAuthentication",
]

# Strategies ------------------------------------------------------------------


def either(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One of ``strategies``, each about as often as the others (``st.one_of``
    weighs every branch of a nested ``one_of`` like a whole strategy)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)


# Text, including NUL, surrogate-free unicode, huge strings and number-like text.
text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=20_000),
    st.from_regex(r"[+０-９0-9 ()\-.]{0,40}", fullmatch=True),
    st.sampled_from(["", "\x00", "\x00" * 50, "null", "NaN", "-1", "9" * 400, "<script>"]),
)
# JSON escapes can carry lone surrogates (e.g. "\ud800"), which no form or
# multipart body can: JSON text may have them too.
json_text = text | st.text(alphabet=st.characters(categories=["Cs"]) | st.characters(), max_size=50)
json_keys = st.text(max_size=10) | st.text(st.characters(categories=["Cs"]), max_size=3)
json_scalars = either(
    st.none(),
    st.booleans(),
    st.integers() | st.sampled_from([2**63, -(2**63) - 1, 10**300, 10**4000]),
    st.floats(allow_nan=True, allow_infinity=True),
    json_text,
)
# Scalars two times in three: st.recursive alone nearly always gives a container.
json_values = either(
    json_scalars,
    json_scalars,
    st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
        max_leaves=10,
    ),
)

#: Values that get a request further into a flow (a valid number, a purpose,
#: a code's shape, a strong or the member's password, a well-formed captcha key).
PLAUSIBLE: dict[str, list[Any]] = {
    "phone": [
        MEMBER_PHONE,
        NEW_PHONE,
        "138 0013 8000",
        "+86 139-0013-9000",
        "+12025550143",
        MEMBER_PHONE + "\x00",
        "+86" + "1" * 40,
    ],
    "purpose": [*PURPOSES, "REGISTER", "admin"],
    "code": ["000000", "123456", "１２３４５６", " 123 456 ", "12345", "1234567", "0" * 1000],
    "password": [PASSWORD, "x", " " + PASSWORD],
    "password1": [PASSWORD, "password", NEW_PHONE],
    "password2": [PASSWORD, "password"],
    "captcha_key": ["A" * 32, "-" * 32, "A" * 31 + "\x00"],
    "captcha_answer": ["ABCD", "abcd", "PASSED"],
}
#: Keys no endpoint declares: the web form's names, and mass-assignment bait.
EXTRA_KEYS = [
    "captcha",
    "captcha_0",
    "captcha_1",
    "purpose",
    "user",
    "user_id",
    "is_staff",
    "is_superuser",
    "username",
    "token",
    "next",
    "non_field_errors",
    "",
]


#: A body each endpoint would accept but for its code (123456 is the code sent
#: one time in a million) or its captcha (the test answer, which must not pass
#: with the test mode off); password login's is right.
NEARLY_VALID: dict[str, dict[str, str]] = {
    "send_code": {"phone": NEW_PHONE, "purpose": "register", "captcha_answer": "PASSED"},
    "register": {"phone": NEW_PHONE, "code": "123456", "password1": PASSWORD},
    "login": {"phone": MEMBER_PHONE, "code": "123456"},
    "password_login": {"phone": MEMBER_PHONE, "password": PASSWORD},
    "password_reset": {"phone": MEMBER_PHONE, "code": "123456", "password1": PASSWORD},
    "phone_change": {"phone": NEW_PHONE, "code": "123456", "current_password": PASSWORD},
}


def _plausible(name: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(PLAUSIBLE.get(name, ["x"]))


def _extra_keys(fields: list[str]) -> list[str]:
    return [key for key in EXTRA_KEYS if key not in fields]


def nearly_valid_bodies(endpoint: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict]:
    """Mostly NEARLY_VALID[endpoint], with one field or unknown key fuzzed: the
    fuzzed value meets the flow deep down, where what stands between it and an
    SMS, a new user or a login is the code or the captcha."""
    fields = api_fields(endpoint)
    valid = NEARLY_VALID[endpoint]

    def mostly(value: Any, others: list[Any]) -> st.SearchStrategy[Any]:
        # A wrong value in another field stops the form before the fuzzed one.
        return st.sampled_from([value] * 9 * len(others) + others)

    def one_fuzzed(base: dict, name: str, fuzzed: Any) -> dict:
        if "password1" in base and "password2" in base:
            base["password2"] = base["password1"]
        return {**base, name: fuzzed}

    base = st.fixed_dictionaries(
        {
            name: mostly(valid[name], PLAUSIBLE.get(name, ["x"]))
            if name in valid
            else _plausible(name)
            for name in fields
        }
    )
    fuzzed_key = st.sampled_from(_extra_keys(fields)) | st.sampled_from(fields)
    return st.builds(one_fuzzed, base, fuzzed_key, values)


def bodies(
    endpoint: str, values: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Dicts for ``endpoint`` with fuzzed ``values``: nearly valid ones with one
    value fuzzed; ones with every field fuzzed; ones with some fields and
    unknown keys fuzzed. And whatever ``others`` give."""
    fields = api_fields(endpoint)
    extras = _extra_keys(fields)
    every = st.fixed_dictionaries(
        {name: values | _plausible(name) for name in fields},
        optional=dict.fromkeys(extras, values),
    )
    some = st.dictionaries(
        st.sampled_from([*fields, *extras]) | st.text(max_size=20),
        values | st.sampled_from([v for vs in PLAUSIBLE.values() for v in vs]),
        max_size=8,
    )
    deep = nearly_valid_bodies(endpoint, values)
    return st.one_of(deep, deep, every, some, *others)


_HEADER_CHARS = st.characters(codec="latin-1", exclude_categories=["Cc"])
#: What a client may put in Authorization (a WSGI server hands over latin-1 text).
garbage_authorization = st.one_of(
    st.text(_HEADER_CHARS, max_size=300),
    st.builds("Bearer {}".format, st.text(_HEADER_CHARS, max_size=300)),
    st.builds("Basic {}".format, st.text(_HEADER_CHARS, max_size=100)),
    st.sampled_from(["Bearer", "Bearer  ", "Basic", "Basic Og==", "Basic AAAA", "Bearer a.b.c"]),
)


def scenarios(endpoint: str) -> st.SearchStrategy[dict]:
    """Who asks and how, and the state the request meets."""
    auth = ["anonymous", "session", "jwt"] * 2 + ["garbage"]
    if IsAuthenticated in resolve(url(endpoint)).func.cls.permission_classes:
        auth += ["session", "jwt"] * 3  # mostly logged in where a user is needed
    return st.fixed_dictionaries(
        {
            "auth": st.sampled_from(auth),
            "authorization": garbage_authorization,
            # Mostly off (as APIClient does), so that bodies reach the forms.
            "enforce_csrf": st.sampled_from([False] * 7 + [True]),
            "primed": st.booleans(),
            "real_captcha_key": st.booleans(),
            "token_hook": st.sampled_from([SESSION_HOOK, JWT_HOOK]),
        }
    )


CHARSETS = [
    None,
    "utf-8",
    "UTF-8",
    "latin-1",
    "ascii",
    "utf-16",
    "utf-32",
    "utf-7",
    "utf-8-sig",
    "gb18030",
    "shift_jis",
    "cp1252",
    # Python codecs that are not text encodings, and unknown ones. Not
    # unicode_escape: its DeprecationWarning on a bad escape is an error only
    # under this suite's warning filter, not on a server.
    "rot13",
    "hex",
    "base64",
    "zlib",
    "undefined",
    "no-such-charset",
    "",
    # Codecs that raise UnicodeError rather than UnicodeDecodeError (were 500s).
    "idna",
    "punycode",
]
MEDIA_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=xx",
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "*/*",
    "",
]
content_types = st.builds(
    lambda media, charset: media if charset is None else f"{media}; charset={charset}",
    st.sampled_from(MEDIA_TYPES),
    st.sampled_from(CHARSETS),
)


def _multipart(raw: bytes) -> bytes:
    return b'--xx\r\nContent-Disposition: form-data; name="phone"\r\n\r\n' + raw + b"\r\n--xx--\r\n"


raw_bodies = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.builds(_multipart, st.binary(max_size=200)),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"\xef\xbb\xbf{}",
            b'{"phone": NaN, "purpose": Infinity}',
            b'{"phone": 1' + b"0" * 5000 + b"}",
            b'{"phone": "1", "phone": {"a": []}}',
            json.dumps({"phone": NEW_PHONE, "purpose": "register"}).encode("utf-16"),
            b"phone=%FF%FE%00&purpose=register&captcha_key=%00",
            b'{"phone": "' + b"9" * 300_000 + b'"}',
            # Deeper than the recursion limit of json.loads (was a 500).
            b"[" * 100_000,
            b'{"phone": ' * 50_000,
        ]
    ),
)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = [
    pytest.mark.django_db,
    # A failing example with huge strings: the report matters more than its size.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]


# Fixtures and helpers --------------------------------------------------------


@pytest.fixture(autouse=True)
def _api_settings(settings):
    # The real captcha stays on: fuzzed requests must never get past it.
    settings.SMSVERIFY = {}
    settings.REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": AUTH_CLASSES}
    # PyJWT warns about HMAC keys under 32 bytes; the tests' SECRET_KEY is shorter.
    settings.SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-0123456789abcdef"}


@pytest.fixture
def member(django_user_model):
    """A registered user, whose number and password the fuzz may use."""
    user = django_user_model.objects.create_user(username=MEMBER_PHONE, password=PASSWORD)
    PhoneNumber.objects.create(user=user, number=MEMBER_PHONE)
    return user


def url(endpoint: str) -> str:
    return reverse(f"smsverify_api:{endpoint}")


def api_fields(endpoint: str) -> list[str]:
    """The request fields of ``endpoint``, as its serializer (and so its form) declares them."""
    view = resolve(url(endpoint)).func.cls
    return list(view.serializer_class(context={"request": None}).fields)


def accounts() -> tuple:
    """Every user (with password hash and flags) and phone number, and the count of SMS records."""
    return (
        sorted(
            get_user_model().objects.values_list(
                "pk", "username", "password", "is_active", "is_staff", "is_superuser"
            )
        ),
        sorted(PhoneNumber.objects.values_list("user_id", "number")),
        SmsDelivery.objects.count(),
    )


class Fuzz:
    """Runs one fuzzed request per example and checks what must not happen."""

    def __init__(self, member: Any) -> None:
        self.member = member
        self.access = str(RefreshToken.for_user(member).access_token)

    def client(self, scenario: dict) -> APIClient:
        client = APIClient(enforce_csrf_checks=scenario["enforce_csrf"])
        if scenario["auth"] == "session":
            client.force_login(self.member)
        elif scenario["auth"] == "jwt":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.access}")
        elif scenario["auth"] == "garbage":
            client.credentials(HTTP_AUTHORIZATION=scenario["authorization"])
        return client

    def run(self, endpoint: str, scenario: dict, post: Any) -> Any:
        """``post(client, url, captcha_key)`` once, from a fresh store."""
        caches["default"].clear()
        if scenario["primed"] and ENDPOINTS[endpoint]:
            verification.send_code(*ENDPOINTS[endpoint])
        django_smsverify.outbox.clear()
        client = self.client(scenario)
        key = None
        if scenario["real_captcha_key"]:
            # From another client: a garbage Authorization header gets no challenge.
            key = APIClient().get(url("captcha")).json()["key"]
        before = accounts()
        with override_settings(SMSVERIFY={"DRF": {"TOKEN_HOOK": scenario["token_hook"]}}):
            response = post(client, url(endpoint), key)
        assert response.status_code < 500, (response.status_code, response.content[:500])
        assert django_smsverify.outbox == []
        assert accounts() == before
        return response


@pytest.fixture
def fuzz(member):
    return Fuzz(member)


# Coverage of the urls module -------------------------------------------------


def _sample_kwargs(pattern: URLPattern) -> dict[str, Any]:
    samples = {IntConverter: 1, UUIDConverter: uuid.UUID(int=0)}
    return {
        name: samples.get(type(converter), "x")
        for name, converter in pattern.pattern.converters.items()
    }


def test_every_post_endpoint_is_fuzzed(member):
    """Every pattern of the API's urls module whose view answers POST (anything
    but 405, asked as a logged-in user) is in ENDPOINTS, and nothing else is
    but the endpoints without input (NO_INPUT)."""
    client = APIClient()
    client.force_login(member)
    takes_post = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern), f"{pattern!r}: teach this test about includes"
        path = reverse(f"smsverify_api:{pattern.name}", kwargs=_sample_kwargs(pattern))
        response = client.post(path, {}, format="json")
        assert response.status_code < 500
        if response.status_code != 405:
            takes_post.add(pattern.name)
    # Only change/current-code/ sends on an empty body: to the member's own number.
    assert [m.to for m in django_smsverify.outbox] == [[MEMBER_PHONE]]
    assert takes_post == set(ENDPOINTS) | NO_INPUT
    # Each has request fields for the fuzz to fill.
    assert all(api_fields(endpoint) for endpoint in ENDPOINTS)


# The fuzz --------------------------------------------------------------------


def json_post(body: Any, ascii_only: bool) -> Any:
    """Posts ``body`` as JSON (with the real captcha key, if the example has one)."""

    def post(client, path, key):
        sent = {**body, "captcha_key": key} if key and isinstance(body, dict) else body
        raw = json.dumps(sent, allow_nan=True, ensure_ascii=ascii_only)
        # surrogatepass: lone surrogates as raw UTF-8-like bytes, when not escaped.
        return client.post(
            path, raw.encode("utf-8", "surrogatepass"), content_type="application/json"
        )

    return post


def form_post(body: dict, multipart: bool) -> Any:
    """Posts ``body`` multipart or URL-encoded; list values become repeated keys."""

    def post(client, path, key):
        sent = {**body, "captcha_key": key} if key else body
        if multipart:
            return client.post(path, sent, format="multipart")
        pairs = [(k, v) for k, vs in sent.items() for v in (vs if isinstance(vs, list) else [vs])]
        return client.post(path, urlencode(pairs), content_type="application/x-www-form-urlencoded")

    return post


def json_strictness(stack: ExitStack, lenient: bool) -> None:
    """With ``lenient``, as on a site with REST_FRAMEWORK["STRICT_JSON"] off (read
    at import time, hence the patch): NaN and the infinities reach the fields."""
    if lenient:
        stack.enter_context(mock.patch.object(JSONParser, "strict", False))
        stack.enter_context(mock.patch.object(JSONRenderer, "strict", False))


class Upload:
    """A file for the test client's multipart encoder. Any name: SimpleUploadedFile
    refuses some ("..", ""), the server must cope with all."""

    def __init__(self, name: str, content: bytes, content_type: str) -> None:
        self.name, self.content, self.content_type = name, content, content_type

    def read(self) -> bytes:
        return self.content

    def __repr__(self) -> str:
        return f"Upload({self.name!r}, <{len(self.content)} bytes>, {self.content_type!r})"


uploads = st.builds(
    Upload,
    st.text(max_size=50) | st.sampled_from(["..", ".", "../../etc/passwd", "a\\..\\b"]),
    st.binary(max_size=500),
    st.sampled_from(["text/plain", "application/octet-stream", "image/png"]),
)


def form_values(multipart: bool) -> st.SearchStrategy[Any]:
    single = text | uploads if multipart else text
    return single | st.lists(single, max_size=3)


@pytest.mark.parametrize("store_cache", ["locmem", "redis"], indirect=True)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@FUZZ
@given(data=st.data(), lenient=st.booleans(), ascii_only=st.booleans())
def test_any_json(endpoint, store_cache, fuzz, data, lenient, ascii_only):
    """Any JSON document, mostly an object with the endpoint's fields."""
    scenario = data.draw(scenarios(endpoint))
    body = data.draw(bodies(endpoint, json_values, json_values))
    with ExitStack() as stack:
        json_strictness(stack, lenient)
        fuzz.run(endpoint, scenario, json_post(body, ascii_only))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@FUZZ
@given(data=st.data(), multipart=st.booleans())
def test_any_form(endpoint, fuzz, data, multipart):
    """Form fields, multipart (with files) or URL-encoded, each once or repeated."""
    scenario = data.draw(scenarios(endpoint))
    body = data.draw(bodies(endpoint, form_values(multipart)))
    fuzz.run(endpoint, scenario, form_post(body, multipart))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@FUZZ
@given(data=st.data(), raw=raw_bodies, content_type=content_types)
def test_any_bytes(endpoint, fuzz, data, raw, content_type):
    """Any bytes under any of several content types and charsets."""
    scenario = data.draw(scenarios(endpoint))
    fuzz.run(
        endpoint,
        scenario,
        # generic(): post() would render the bytes itself under an empty content type.
        lambda client, path, key: client.generic("POST", path, raw, content_type=content_type),
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@FUZZ
@given(data=st.data(), encoding=st.sampled_from(["json", "multipart", "urlencoded"]))
def test_nearly_valid(endpoint, fuzz, data, encoding):
    """Only nearly valid bodies (one value fuzzed): the requests most likely to
    get an SMS out, or a user in, if a check gave way."""
    scenario = data.draw(scenarios(endpoint))
    if encoding == "json":
        body = data.draw(nearly_valid_bodies(endpoint, json_values))
        post = json_post(body, ascii_only=True)
    else:
        multipart = encoding == "multipart"
        body = data.draw(nearly_valid_bodies(endpoint, form_values(multipart)))
        post = form_post(body, multipart)
    fuzz.run(endpoint, scenario, post)


# Inputs that were 500s -------------------------------------------------------
# Found while writing the fuzz above (they are among its inputs); posted here to
# every endpoint on every run, not only when the fuzz happens to draw them.

FORMER_500S = {
    # RecursionError from json.loads.
    "deeply nested JSON": (b"[" * 100_000, "application/json"),
    # UnicodeError (not UnicodeDecodeError) from QueryDict in REST framework's FormParser.
    "urlencoded, charset=punycode": (
        b"phone=1",
        "application/x-www-form-urlencoded; charset=punycode",
    ),
    # UnicodeError / DjangoUnicodeDecodeError from Django's MultiPartParser.
    "multipart, charset=idna": (
        _multipart(b"\xff\xfe"),
        "multipart/form-data; boundary=xx; charset=idna",
    ),
    "multipart, charset=punycode": (
        _multipart(b"\xff\xfe"),
        "multipart/form-data; boundary=xx; charset=punycode",
    ),
    # REST framework's invalid-choice message repeated the lone surrogate, which
    # its UTF-8 JSON renderer could not encode.
    "lone surrogate as purpose": (
        b'{"phone": "+8613900139000", "purpose": "\\ud800"}',
        "application/json",
    ),
}


@pytest.mark.parametrize("case", FORMER_500S)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_former_500s(endpoint, case, member):
    client = APIClient()
    client.force_login(member)  # so that phone change reads the body too
    raw, content_type = FORMER_500S[case]
    before = accounts()
    response = client.post(url(endpoint), raw, content_type=content_type)
    assert response.status_code == 400, response.content[:300]
    assert django_smsverify.outbox == []
    assert accounts() == before
