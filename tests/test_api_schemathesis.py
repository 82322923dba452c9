"""Fuzz the REST API from its own OpenAPI schema with schemathesis, against a
live test server on 127.0.0.1: valid and invalid bodies, query strings and
headers for every operation must never give a 500, and every answer must be
one the schema declares (status, content type, headers, body).

Bounded to keep the suite fast: ``MAX_EXAMPLES`` per operation and mode.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from django_smsverify.models import PhoneNumber

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


JWT_HOOK = "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"


@pytest.fixture(params=["defaults", "open"])
def api_settings(request, settings):
    """Two configurations: the defaults (captcha on, enumeration guarded), and
    an open one where random input gets past the captcha to the engine, the
    forms and phone_status. Both with the JWT hook: the session hook's CSRF
    check would stop the login endpoints before their forms run."""
    smsverify = {"DRF": {"TOKEN_HOOK": JWT_HOOK}}
    if request.param == "open":
        smsverify.update({"CAPTCHA": False, "PREVENT_ENUMERATION": False})
    settings.SMSVERIFY = smsverify
    settings.SIMPLE_JWT = {"SIGNING_KEY": "tests-only-jwt-signing-key-0123456789abcdef"}
    settings.REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework_simplejwt.authentication.JWTAuthentication"
        ]
    }
    return request.param


@pytest.fixture
def bearer(transactional_db, api_settings):
    """An Authorization header for a registered user, so phone change is fuzzed too."""
    user = get_user_model().objects.create_user(username="+8613700137000", password="x" * 12)
    PhoneNumber.objects.create(user=user, number="+8613700137000")
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def operations(live_server):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/phone/schema/")
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis.pytest.from_fixture() does not work with pytest 9 yet, so the
# live server's schema is loaded inside the test and each operation is run as
# its own Hypothesis test, in both generation modes.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_fails_and_keeps_to_its_schema(live_server, bearer, mode):
    """Every operation, MAX_EXAMPLES cases per mode and configuration."""
    tested, calls = [], []
    for operation in operations(live_server):
        if mode == GenerationMode.NEGATIVE and not (len(operation.body) or len(operation.query)):
            continue  # no input (GET captcha/, POST change/current-code/): nothing to spoil

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(base_url=live_server.url, headers=bearer, checks=CHECKS)
            calls.append(case.operation.label)

        run()
        tested.append(operation.label)
    # Negative mode leaves out the two operations without input (GET captcha/,
    # POST change/current-code/): nothing can be made invalid.
    assert len(tested) == (9 if mode == GenerationMode.POSITIVE else 7), tested
    # Every operation was really called; those that take input, many times.
    counts = Counter(calls)
    no_input = {"GET /api/phone/captcha/", "POST /api/phone/change/current-code/"}
    assert all(counts[label] >= (1 if label in no_input else 10) for label in tested), counts


def test_the_schema_lists_every_endpoint(live_server, api_settings):
    import requests

    document = requests.get(f"{live_server.url}/api/phone/schema/", timeout=10).json()
    assert set(document["paths"]) == {
        f"/api/phone/{path}"
        for path in (
            "captcha/",
            "send-code/",
            "status/",
            "register/",
            "login/",
            "login/password/",
            "password/reset/",
            "change/",
            "change/current-code/",
        )
    }
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert len(operations) == 9
