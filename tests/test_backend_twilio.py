"""The Twilio backend: the real ``twilio`` SDK, driven end to end against the fake server."""

from __future__ import annotations

import base64
import importlib
import logging
import re
import socket
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks

from django_smsverify.backends import twilio
from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage
from django_smsverify.phone_storage import default_phone_storage
from tests import fake_twilio
from tests.backend_contract import FailingBackendContract
from tests.fake_twilio import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM,
    TWILIO_MESSAGING_SERVICE_SID,
)

twilio_server = fake_twilio.twilio_server

PATH = "django_smsverify.backends.twilio.SmsBackend"
CODE = "482913"
PHONE = "+8613800138000"
OTHER = "+14155550123"
BASIC = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()


def config(server, **extra):
    return {
        "ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "FROM": TWILIO_FROM,
        "BASE_URL": server.url,
        "TIMEOUT": 2,
        **extra,
    }


@pytest.fixture
def configure(settings, twilio_server):
    """Point the backend at the fake: ``configure(**extra_settings)``."""

    def apply(**extra):
        settings.SMS_BACKEND = PATH
        block = config(twilio_server, **extra)
        settings.SMSVERIFY = {"TWILIO": {k: v for k, v in block.items() if v is not None}}

    apply()
    return apply


def code_message(to=(PHONE,), purpose="register", code=CODE, body=None):
    body = body if body is not None else f"Your verification code is {code}."
    return SmsMessage(to=list(to), body=body, params=[code, "5"], purpose=purpose)


def send(message, fail_silently=False):
    return twilio.SmsBackend(fail_silently=fail_silently).send_messages([message])


def failure(message):
    with pytest.raises(SmsSendError) as excinfo:
        send(message)
    return excinfo.value


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestContract(FailingBackendContract):
    @pytest.fixture
    def backend_path(self):
        return PATH

    @pytest.fixture
    def make_backend(self, configure):
        return lambda fail_silently=False: twilio.SmsBackend(fail_silently=fail_silently)

    @pytest.fixture
    def make_failing_backend(self, configure, twilio_server):
        twilio_server.reply("error", 21211)
        return lambda fail_silently=False: twilio.SmsBackend(fail_silently=fail_silently)


class TestSending:
    def test_sends_the_body_from_the_number_with_basic_auth(self, configure, twilio_server):
        message = code_message()
        assert send(message) == 1
        (request,) = twilio_server.requests
        assert request.verified, request.problems
        assert request.path == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
        assert request.headers["Authorization"] == f"Basic {BASIC}"
        assert fake_twilio.form_of(request) == {
            "To": PHONE,
            "From": TWILIO_FROM,
            "Body": f"Your verification code is {CODE}.",
        }
        status = message.status
        assert (status.status, status.provider, status.provider_code) == (
            "sent",
            "twilio",
            "queued",
        )
        assert re.fullmatch(r"SM[0-9a-f]{32}", status.message_id)
        assert status.recipients == {PHONE: "sent"}

    def test_messaging_service_instead_of_a_number(self, configure, twilio_server):
        configure(FROM=None, MESSAGING_SERVICE_SID=TWILIO_MESSAGING_SERVICE_SID)
        message = code_message()
        assert send(message) == 1
        form = twilio_server.sent()[0]
        assert form["MessagingServiceSid"] == TWILIO_MESSAGING_SERVICE_SID
        assert "From" not in form
        assert message.status.provider_code == "accepted"

    def test_both_senders_is_a_configuration_error(self, configure, twilio_server):
        configure(MESSAGING_SERVICE_SID=TWILIO_MESSAGING_SERVICE_SID)
        with pytest.raises(SmsConfigurationError, match="both 'FROM' and"):
            send(code_message(), fail_silently=True)
        assert twilio_server.requests == []

    def test_no_sender_is_a_configuration_error(self, configure, twilio_server):
        configure(FROM=None)
        with pytest.raises(SmsConfigurationError, match="needs 'FROM' or"):
            send(code_message(), fail_silently=True)
        assert twilio_server.requests == []

    def test_chinese_text_arrives_intact(self, configure, twilio_server):
        body = f"您的验证码是{CODE}，5分钟内有效。请勿泄露给他人。【测试】"
        assert send(code_message(body=body)) == 1
        assert twilio_server.sent()[0]["Body"] == body

    @pytest.mark.parametrize("kind", ["registered", "unregistered", "phone_changed"])
    def test_a_notice_goes_out_as_its_plain_text(self, configure, twilio_server, kind):
        text = "Someone tried to sign up with this number, which already has an account."
        notice = SmsMessage([PHONE], text, params=[], purpose=f"notice_{kind}")
        assert send(notice) == 1
        assert twilio_server.sent()[0]["Body"] == text

    def test_one_request_per_number(self, configure, twilio_server):
        message = code_message(to=[PHONE, OTHER])
        assert send(message) == 1
        assert [form["To"] for form in twilio_server.sent()] == [PHONE, OTHER]
        assert message.status.recipients == {PHONE: "sent", OTHER: "sent"}

    def test_a_refused_number_does_not_fail_the_others(self, configure, twilio_server):
        twilio_server.number_codes = {OTHER: 21610}
        message = code_message(to=[PHONE, OTHER])
        assert send(message) == 1
        assert message.status.recipients == {PHONE: "sent", OTHER: "failed"}
        assert message.status.provider_code == "21610"

    def test_every_number_refused_is_transient_only_if_every_refusal_is(
        self, configure, twilio_server
    ):
        twilio_server.number_codes = {PHONE: 20429, OTHER: 21211}
        error = failure(code_message(to=[PHONE, OTHER]))
        assert error.provider_code == "20429"
        assert not error.transient

    def test_client_is_reused_within_a_batch_and_dropped(self, configure, twilio_server):
        backend = twilio.SmsBackend()
        with backend:
            client = backend.client
            backend.send_messages([code_message(), code_message(code="111111")])
            assert backend.client is client
        assert backend.client is None
        assert len(twilio_server.requests) == 2

    def test_proxy_in_environment_is_not_used_for_a_loopback_base_url(
        self, configure, twilio_server, monkeypatch
    ):
        dead = free_port()
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{dead}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert send(code_message()) == 1

    def test_without_base_url_the_sdk_goes_to_twilio(self, configure):
        backend = twilio.SmsBackend()
        backend.config["BASE_URL"] = None
        client = backend.build_client()
        assert client.http_client.base_url is None
        assert client.api.base_url == "https://api.twilio.com"


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "transient"),
        [
            (21211, False),  # invalid 'To'
            (21614, False),  # not a mobile number
            (21610, False),  # unsubscribed (STOP)
            (21408, False),  # region not enabled
            (21606, False),  # From not SMS-capable
            (21703, False),  # Messaging Service has no sender
            (21611, True),  # From's queue is full
            (20429, True),  # account-level concurrency
            (20500, True),
            (21212, False),
        ],
    )
    def test_error_codes_map_to_transient_or_permanent(
        self, configure, twilio_server, code, transient
    ):
        twilio_server.reply("error", code)
        message = code_message()
        error = failure(message)
        assert (error.provider, error.provider_code, error.transient) == (
            "twilio",
            str(code),
            transient,
        )
        assert not error.maybe_sent
        assert not error.rate_limited
        assert error.response["code"] == code
        assert error.response["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
        assert message.status.status == "failed"
        assert message.status.provider_code == str(code)
        assert twilio_server.requests[0].verified

    def test_too_many_requests_is_not_a_per_number_limit(self, configure, twilio_server):
        # Twilio's 20429 is the account's concurrency limit, not "too often for
        # this number": no resend cooldown is kept for it.
        twilio_server.reply("error", 20429)
        error = failure(code_message())
        assert error.transient and not error.rate_limited
        assert error.response["status"] == 429

    def test_wrong_auth_token_is_permanent_20003(self, configure, twilio_server):
        configure(AUTH_TOKEN="not-the-token")
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("20003", False)
        assert "ACCOUNT_SID or AUTH_TOKEN" in error.detail
        assert twilio_server.requests[0].problems == ["auth"]

    def test_unknown_code_with_4xx_is_permanent(self, configure, twilio_server, monkeypatch):
        monkeypatch.setitem(fake_twilio.ERRORS, 21999, (400, "Something new"))
        twilio_server.reply("error", 21999)
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("21999", False)

    @pytest.mark.parametrize("mode", ["http500", "http504"])
    def test_html_5xx_is_transient_and_not_maybe_sent(self, configure, twilio_server, mode):
        twilio_server.reply(mode)
        error = failure(code_message())
        status = 500 if mode == "http500" else 504
        assert (error.provider_code, error.transient) == (f"HTTP {status}", True)
        assert not error.maybe_sent

    def test_malformed_success_reply_may_have_been_sent(self, configure, twilio_server):
        twilio_server.reply("malformed")
        error = failure(code_message())
        assert (error.provider_code, error.transient, error.maybe_sent) == (
            "invalid_reply",
            True,
            True,
        )

    def test_message_created_as_failed_is_a_failure(self, configure, twilio_server):
        twilio_server.reply("failed", 30003)
        message = code_message()
        error = failure(message)
        assert (error.provider_code, error.transient) == ("30003", False)
        assert error.response["status"] == "failed"
        assert message.status.status == "failed"

    def test_read_timeout_is_maybe_sent_and_prompt(self, configure, twilio_server):
        configure(TIMEOUT=(1, 0.3))
        twilio_server.reply("slow", delay=3)
        started = time.monotonic()
        message = code_message()
        error = failure(message)
        assert time.monotonic() - started < 2
        assert (error.provider_code, error.transient, error.maybe_sent) == (
            "ReadTimeout",
            True,
            True,
        )
        assert len(twilio_server.requests) == 1  # never retried behind our back

    def test_timeout_as_one_number(self, configure, twilio_server):
        configure(TIMEOUT=0.3)
        twilio_server.reply("slow", delay=3)
        assert failure(code_message()).maybe_sent

    def test_dropped_connection_is_maybe_sent(self, configure, twilio_server):
        twilio_server.reply("drop")
        error = failure(code_message())
        assert error.transient and error.maybe_sent
        assert len(twilio_server.requests) == 1

    def test_connection_refused_is_transient_and_not_sent(self, configure):
        configure(BASE_URL=f"http://127.0.0.1:{free_port()}")
        error = failure(code_message())
        assert (error.provider_code, error.transient, error.maybe_sent) == (
            "ConnectionError",
            True,
            False,
        )

    @pytest.mark.parametrize("key", ["ACCOUNT_SID", "AUTH_TOKEN"])
    def test_missing_credential_is_a_configuration_error(self, configure, twilio_server, key):
        configure(**{key: None})
        with pytest.raises(SmsConfigurationError, match=rf"\['TWILIO'\]\['{key}'\] is missing"):
            send(code_message(), fail_silently=True)
        assert twilio_server.requests == []

    def test_bad_base_url_is_a_configuration_error(self, configure):
        configure(BASE_URL="127.0.0.1:8080")
        with pytest.raises(SmsConfigurationError, match="BASE_URL"):
            send(code_message(), fail_silently=True)


def _leaky_log_request(self, kwargs):
    # What an SDK that logged every header would write.
    for key, value in kwargs["headers"].items():
        self.logger.debug("%s : %s", key, value)
    self.logger.info("Authorization : Basic %s", BASIC)


class TestLogs:
    def secrets_in_logs(self, caplog, capfd, messages):
        out, err = capfd.readouterr()
        formatter = logging.Formatter("%(name)s %(message)s")
        texts = [out, err, caplog.text, *(formatter.format(r) for r in caplog.records)]
        texts += [str(m.status.error) for m in messages if m.status.error]
        texts += [repr(m) for m in messages]
        return [s for s in (TWILIO_AUTH_TOKEN, BASIC, CODE) if any(s in t for t in texts)]

    def test_nothing_secret_reaches_output_or_logs(self, configure, twilio_server, capfd, caplog):
        caplog.set_level(logging.DEBUG)
        messages = [code_message() for _ in range(4)]
        send(messages[0])
        twilio_server.reply("error", 21211)
        send(messages[1], fail_silently=True)
        configure(AUTH_TOKEN=TWILIO_AUTH_TOKEN + "x")
        send(messages[2], fail_silently=True)
        configure(TIMEOUT=(1, 0.3))
        twilio_server.reply("slow", delay=3)
        send(messages[3], fail_silently=True)
        assert [m.status.status for m in messages] == ["sent", "failed", "failed", "failed"]
        # DEBUG and the SDK's own request log were captured.
        assert any(r.name.startswith("urllib3") for r in caplog.records)
        assert any(r.name == "twilio.http_client" for r in caplog.records)
        assert self.secrets_in_logs(caplog, capfd, messages) == []

    def test_credentials_an_sdk_logs_are_redacted(
        self, configure, twilio_server, capfd, caplog, monkeypatch
    ):
        monkeypatch.setattr(twilio.TwilioHttpClient, "log_request", _leaky_log_request)
        caplog.set_level(logging.DEBUG)
        message = code_message()
        send(message)
        assert "Authorization : [redacted]" in caplog.text
        assert self.secrets_in_logs(caplog, capfd, [message]) == []

    def test_without_our_filter_such_a_log_would_leak(
        self, configure, twilio_server, caplog, monkeypatch
    ):
        # Proves the test above can fail.
        monkeypatch.setattr(twilio.TwilioHttpClient, "log_request", _leaky_log_request)
        monkeypatch.setattr(logging.getLogger("twilio.http_client"), "filters", [])
        caplog.set_level(logging.DEBUG)
        send(code_message())
        assert BASIC in caplog.text


def test_missing_sdk_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "django_smsverify.backends.twilio")
    for name in [n for n in sys.modules if n == "twilio" or n.startswith("twilio.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "twilio", None)
    with pytest.raises(MissingDependency) as excinfo:
        importlib.import_module("django_smsverify.backends.twilio")
    assert excinfo.value.extra == "twilio"
    assert 'pip install "django-smsverify[twilio]"' in str(excinfo.value)


class TestChecks:
    def errors(self):
        return [e for e in run_checks() if e.id.startswith("smsverify.E13")]

    def ids(self):
        return sorted(e.id for e in self.errors())

    def test_valid_settings_pass(self, configure):
        assert self.ids() == []

    def test_messaging_service_passes(self, configure):
        configure(FROM=None, MESSAGING_SERVICE_SID=TWILIO_MESSAGING_SERVICE_SID)
        assert self.ids() == []

    def test_alphanumeric_sender_id_passes(self, configure):
        configure(FROM="MyShop", BASE_URL=None, TIMEOUT=None)
        assert self.ids() == []

    def test_other_backend_is_not_checked(self, settings):
        settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
        settings.SMSVERIFY = {"TWILIO": {"AUTH_TOKEN": ""}}
        assert self.ids() == []

    def test_e130_account_sid_missing(self, configure):
        configure(ACCOUNT_SID=None)
        assert self.ids() == ["smsverify.E130"]
        assert self.errors()[0].msg == "SMSVERIFY['TWILIO']['ACCOUNT_SID'] is missing."

    def test_e130_account_sid_that_is_not_one(self, configure):
        configure(ACCOUNT_SID="SK" + "0" * 32)
        assert self.ids() == ["smsverify.E130"]
        assert "starting with 'AC'" in self.errors()[0].msg

    def test_e131_auth_token(self, configure):
        configure(AUTH_TOKEN=" ")
        assert self.ids() == ["smsverify.E131"]
        assert self.errors()[0].msg == "SMSVERIFY['TWILIO']['AUTH_TOKEN'] is empty."

    def test_e132_neither_sender(self, configure):
        configure(FROM=None)
        assert self.ids() == ["smsverify.E132"]
        assert "neither is set" in self.errors()[0].msg

    def test_e132_both_senders(self, configure):
        configure(MESSAGING_SERVICE_SID=TWILIO_MESSAGING_SERVICE_SID)
        assert self.ids() == ["smsverify.E132"]
        assert "both are set" in self.errors()[0].msg

    @pytest.mark.parametrize("sender", ["15005550006", "+1 500 555 0006", "(500) 555-0006"])
    def test_e133_from_not_e164(self, configure, sender):
        configure(FROM=sender)
        assert self.ids() == ["smsverify.E133"]
        assert "E.164" in self.errors()[0].msg

    def test_e134_messaging_service_sid(self, configure):
        configure(FROM=None, MESSAGING_SERVICE_SID="PN123")
        assert self.ids() == ["smsverify.E134"]
        assert "starting with 'MG'" in self.errors()[0].msg

    def test_e135_unknown_key(self, configure):
        configure(API_KEY="SK123")
        assert self.ids() == ["smsverify.E135"]
        assert "Unknown key 'API_KEY' in SMSVERIFY['TWILIO']" in self.errors()[0].msg

    def test_e135_block_that_is_not_a_dict(self, settings):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"TWILIO": "AC123"}
        assert self.ids() == ["smsverify.E135"]
        assert self.errors()[0].msg == "SMSVERIFY['TWILIO'] must be a dict; got str."

    def test_e136_bad_values(self, configure):
        configure(BASE_URL="127.0.0.1:8080", TIMEOUT=(1, 2, 3))
        assert self.ids() == ["smsverify.E136"] * 2


# End to end: the send-code endpoint with SMS_BACKEND = twilio -----------------

URL = "/accounts/phone/send-code/"
REGISTERED = "+8613800138000"
UNREGISTERED = "+8613900139000"


@pytest.fixture
def site(settings, twilio_server, store_cache):
    settings.SMS_BACKEND = PATH
    settings.SMSVERIFY = {
        "CAPTCHA": False,
        "PREVENT_ENUMERATION": True,
        "SEND_LIMITS": {"IP_PER_HOUR": 30},
        "TWILIO": config(twilio_server, TIMEOUT=1),
    }
    user = get_user_model().objects.create(username="someone")
    default_phone_storage().attach(user, REGISTERED)
    return twilio_server


def post(client, phone, purpose="register", **headers):
    return client.post(
        URL, {"phone": phone, "purpose": purpose}, REMOTE_ADDR="203.0.113.9", **headers
    )


def register(client, phone, code):
    return client.post(
        "/accounts/phone/register/",
        {"phone": phone, "code": code, "password1": "Tr0ub4dor&3x", "password2": "Tr0ub4dor&3x"},
    )


@pytest.mark.django_db
class TestSendCode:
    def test_code_arrives_as_text_and_works(self, client, site):
        response = post(client, UNREGISTERED)
        assert response.status_code == 200, response.content
        (form,) = site.sent()
        assert (form["To"], form["From"]) == (UNREGISTERED, TWILIO_FROM)
        (code,) = re.findall(r"\b\d{6}\b", form["Body"])
        assert form["Body"].startswith("Your verification code is")
        assert register(client, UNREGISTERED, code).status_code == 302

    def test_code_text_follows_the_language(self, client, site):
        response = post(client, UNREGISTERED, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, response.content
        body = site.sent()[0]["Body"]
        assert "验证码" in body
        assert re.search(r"\d{6}", body)

    def test_registered_number_gets_the_notice_text(self, client, site):
        assert post(client, REGISTERED).status_code == 200
        body = site.sent()[0]["Body"]
        assert "already has an account" in body
        assert not re.search(r"\d{6}", body)

    def test_read_timeout_keeps_the_code_and_says_it_may_arrive(self, client, site):
        site.reply("slow", delay=3)
        response = post(client, UNREGISTERED)
        assert response.status_code == 200, response.content
        assert response.json()["delivery"] == "uncertain"
        (code,) = re.findall(r"\b\d{6}\b", site.sent()[0]["Body"])
        site.reply("ok")
        assert register(client, UNREGISTERED, code).status_code == 302

    def test_unreachable_twilio_withdraws_the_code(self, client, site):
        site.stop()
        response = post(client, UNREGISTERED)
        assert response.status_code == 503
        assert response["Retry-After"]

    def test_invalid_number_refusal_is_a_503_and_the_code_is_withdrawn(self, client, site):
        site.reply("error", 21211)
        assert post(client, UNREGISTERED).status_code == 503
        (code,) = re.findall(r"\b\d{6}\b", site.sent()[0]["Body"])
        site.reply("ok")
        assert register(client, UNREGISTERED, code).status_code == 400
        assert post(client, UNREGISTERED).status_code == 200
