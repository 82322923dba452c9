"""What a send-code request answers when the SMS provider fails, through the
real Ronglian, Tencent Cloud and Aliyun backends against their fakes on 127.0.0.1.

Issue points covered:

- a failed notice and a failed code answer alike (status, body, headers,
  limits consumed), so a failing provider does not tell which numbers are
  registered;
- notices go through template providers with their own template ids
  (``NOTICE_TEMPLATE_ID``), and the fake receives them;
- an unknown outcome (read timeout, connection dropped after the request)
  keeps the code valid and says so; a definite refusal withdraws it;
- a provider rate-limit refusal keeps the resend cooldown.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from django_smsverify.phone_storage import default_phone_storage
from tests import fake_aliyun, fake_providers
from tests.fake_aliyun import ALIYUN_ACCESS_KEY_ID, ALIYUN_ACCESS_KEY_SECRET, query_of
from tests.fake_providers import (
    RONGLIAN_ACCOUNT_SID,
    RONGLIAN_APP_ID,
    RONGLIAN_AUTH_TOKEN,
    TENCENT_SDK_APP_ID,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
)

ronglian_server = fake_providers.ronglian_server
tencent_server = fake_providers.tencent_server
aliyun_server = fake_aliyun.aliyun_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]

URL = "/accounts/phone/send-code/"
API_URL = "/api/phone/send-code/"
REGISTERED = "+8613800138000"
UNREGISTERED = "+8613900139000"
NOTICES = {"registered": "7001", "unregistered": "7002", "phone_changed": "7003"}
CODE_TEMPLATE = "1001"


class Provider:
    """One template provider's fake, and how to read what it received."""

    def __init__(self, name, server):
        self.name, self.server = name, server

    def settings_block(self, **extra):
        if self.name == "ronglian":
            block = {
                "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
                "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
                "APP_ID": RONGLIAN_APP_ID,
                "BASE_URL": self.server.url,
            }
        elif self.name == "aliyun":
            # Aliyun's TemplateCodes look like SMS_1001; sent() strips the prefix.
            return {
                "ACCESS_KEY_ID": ALIYUN_ACCESS_KEY_ID,
                "ACCESS_KEY_SECRET": ALIYUN_ACCESS_KEY_SECRET,
                "SIGN_NAME": "测试签名",
                "ENDPOINT": self.server.url,
                "TEMPLATE_ID": f"SMS_{CODE_TEMPLATE}",
                "NOTICE_TEMPLATE_ID": {kind: f"SMS_{t}" for kind, t in NOTICES.items()},
                "TIMEOUT": 1,
                **extra,
            }
        else:
            block = {
                "SECRET_ID": TENCENT_SECRET_ID,
                "SECRET_KEY": TENCENT_SECRET_KEY,
                "SDK_APP_ID": TENCENT_SDK_APP_ID,
                "SIGN_NAME": "测试签名",
                "ENDPOINT": self.server.host,
                "SCHEME": "http",
            }
        return {
            **block,
            "TEMPLATE_ID": CODE_TEMPLATE,
            "NOTICE_TEMPLATE_ID": NOTICES,
            "TIMEOUT": 1,
            **extra,
        }

    @property
    def backend(self):
        return f"django_smsverify.backends.{self.name}.SmsBackend"

    def sent(self):
        """``(number, template id, values)`` of each request the fake received."""
        out = []
        for received in self.server.requests:
            if self.name == "aliyun":
                query = query_of(received)
                param = json.loads(query.get("TemplateParam") or "{}")
                out.append(
                    (
                        "+86" + query["PhoneNumbers"],
                        query["TemplateCode"].removeprefix("SMS_"),
                        list(param.values()),
                    )
                )
                continue
            body = received.json
            if self.name == "ronglian":
                out.append(("+86" + body["to"], body["templateId"], body["datas"]))
            else:
                out.append(
                    (body["PhoneNumberSet"][0], body["TemplateId"], body["TemplateParamSet"])
                )
        return out

    def rate_limit(self):
        if self.name == "ronglian":
            self.server.reply("error", code="160038")
        elif self.name == "aliyun":
            self.server.reply("error", code="isv.BUSINESS_LIMIT_CONTROL")
        else:
            self.server.reply("error", code="LimitExceeded.PhoneNumberThirtySecondLimit")

    def refuse(self):
        """A definite refusal that is not about frequency."""
        if self.name == "ronglian":
            self.server.reply("error", code="160050")
        elif self.name == "aliyun":
            self.server.reply("error", code="isp.SYSTEM_ERROR")
        else:
            self.server.reply("error", code="InternalError.Timeout")


@pytest.fixture(params=["ronglian", "tencent", "aliyun"])
def provider(request, settings):
    server = request.getfixturevalue(f"{request.param}_server")
    prov = Provider(request.param, server)
    settings.SMS_BACKEND = prov.backend
    settings.SMSVERIFY = {
        "CAPTCHA": False,
        "PREVENT_ENUMERATION": True,
        "SEND_LIMITS": {"IP_PER_HOUR": 30},
        prov.name.upper(): prov.settings_block(),
    }
    user = get_user_model().objects.create(username="someone")
    default_phone_storage().attach(user, REGISTERED)
    return prov


def post(client, phone, purpose="register", ip="203.0.113.9"):
    return client.post(URL, {"phone": phone, "purpose": purpose}, REMOTE_ADDR=ip)


def comparable(response):
    """What an observer sees of an answer, without the parts that differ for
    every request anyway: the number itself, the date, and the seconds left to
    wait (two numbers tried a second apart wait a second apart; ``waits``
    compares those)."""
    body = json.loads(response.content)
    body.pop("phone", None)
    body.pop("retry_after", None)
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in ("Date", "Expires", "Retry-After")
    }
    text = re.sub(r"\d+", "N", json.dumps(body, sort_keys=True))
    return response.status_code, text, headers, "Retry-After" in response.headers


def waits(response):
    return int(response.headers.get("Retry-After") or 0)


# Notices through template providers ------------------------------------------


def test_notice_goes_out_with_its_own_template_and_no_values(client, provider):
    assert post(client, REGISTERED).status_code == 200
    assert post(client, UNREGISTERED).status_code == 200
    assert post(client, UNREGISTERED, purpose="login", ip="203.0.113.10").status_code == 200
    sent = provider.sent()
    assert sent[0] == (REGISTERED, NOTICES["registered"], [])
    number, template, values = sent[1]
    assert (number, template) == (UNREGISTERED, CODE_TEMPLATE)
    assert len(values[0]) == 6 and values[0].isdigit()
    assert sent[2] == (UNREGISTERED, NOTICES["unregistered"], [])


# A failing provider tells nothing about registration -------------------------


@pytest.mark.parametrize("failure", ["refuse", "http500", "rate_limit", "drop", "slow"])
def test_failed_notice_and_failed_code_answer_alike(client, provider, failure):
    if failure == "refuse":
        provider.refuse()
    elif failure == "rate_limit":
        provider.rate_limit()
    elif failure == "slow":
        provider.server.reply("slow", delay=3)
    else:
        provider.server.reply(failure)
    first = {phone: post(client, phone) for phone in (REGISTERED, UNREGISTERED)}
    # The same number again: what the first try left behind (cooldown,
    # quotas, a live code) must be the same for both kinds of number.
    second = {phone: post(client, phone) for phone in (REGISTERED, UNREGISTERED)}
    for answers in (first, second):
        assert comparable(answers[REGISTERED]) == comparable(answers[UNREGISTERED])
        assert abs(waits(answers[REGISTERED]) - waits(answers[UNREGISTERED])) <= 3
    assert first[REGISTERED].status_code != 500
    # Both kinds reached the provider the same number of times.
    by_number = [number for number, _template, _values in provider.sent()]
    assert by_number.count(REGISTERED) == by_number.count(UNREGISTERED) >= 1


# Unknown outcome: the code stays valid --------------------------------------


@pytest.mark.parametrize("failure", ["slow", "drop"])
def test_unknown_outcome_keeps_the_code_and_says_it_may_arrive(client, provider, failure):
    provider.server.reply(failure, delay=3)
    response = post(client, UNREGISTERED)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["delivery"] == "uncertain"
    assert "may still arrive" in body["message"]
    # The provider got the code; the user types it and it works.
    (number, _template, values) = provider.sent()[-1]
    assert number == UNREGISTERED
    code = values[0]
    provider.server.reply("ok")
    registered = client.post(
        "/accounts/phone/register/",
        {
            "phone": UNREGISTERED,
            "code": code,
            "password1": "Tr0ub4dor&3x",
            "password2": "Tr0ub4dor&3x",
        },
    )
    assert registered.status_code == 302, registered.content
    # The cooldown still holds: no second SMS right away.
    assert post(client, UNREGISTERED, purpose="login").status_code in (200, 429)


def test_unknown_outcome_on_the_page_says_the_code_may_still_arrive(client, provider):
    provider.server.reply("drop")
    response = client.post(
        "/accounts/phone/register/",
        {"action": "send_code", "phone": UNREGISTERED},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200
    assert b"The code may still arrive and will work." in response.content


def test_unreachable_provider_withdraws_the_code_and_the_cooldown(client, provider, settings):
    block = settings.SMSVERIFY[provider.name.upper()]
    provider.server.stop()  # nothing listens there now: connection refused
    response = post(client, UNREGISTERED)
    assert response.status_code == 503
    assert response["Retry-After"]
    # Nothing was sent, so nothing is held against the user: a retry once the
    # provider is back goes out at once.
    revived = type(provider.server)()
    try:
        if provider.name == "ronglian":
            block["BASE_URL"] = revived.url
        elif provider.name == "aliyun":
            block["ENDPOINT"] = revived.url
        else:
            block["ENDPOINT"] = revived.host
        settings.SMSVERIFY = {**settings.SMSVERIFY, provider.name.upper(): block}
        assert post(client, UNREGISTERED).status_code == 200
        assert len(revived.requests) == 1
    finally:
        revived.stop()


def test_definite_refusal_withdraws_the_code(client, provider):
    provider.refuse()
    assert post(client, UNREGISTERED).status_code == 503
    (_number, _template, values) = provider.sent()[-1]
    refused_code = values[0]
    provider.server.reply("ok")
    response = client.post(
        "/accounts/phone/register/",
        {
            "phone": UNREGISTERED,
            "code": refused_code,
            "password1": "Tr0ub4dor&3x",
            "password2": "Tr0ub4dor&3x",
        },
    )
    assert response.status_code == 400
    # And a new code can be asked for at once.
    assert post(client, UNREGISTERED).status_code == 200


# Provider rate limit: the cooldown stays --------------------------------------


def test_provider_rate_limit_keeps_the_cooldown(client, provider):
    provider.rate_limit()
    response = post(client, UNREGISTERED)
    assert response.status_code == 429
    assert 55 <= int(response["Retry-After"]) <= 60
    assert response.json()["retry_after"] == int(response["Retry-After"])
    # The retry the user is tempted to make at once is refused here, without
    # another call to the provider.
    calls = len(provider.server.requests)
    provider.server.reply("ok")
    again = post(client, UNREGISTERED)
    assert again.status_code == 429
    assert len(provider.server.requests) == calls


def test_api_reports_uncertain_delivery(provider, settings):
    from rest_framework.test import APIClient

    provider.server.reply("drop")
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    response = api.post(API_URL, {"phone": UNREGISTERED, "purpose": "register"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["delivery"] == "uncertain"
    assert "may still arrive" in response.json()["message"]
