"""The Ronglian backend, driven end to end against the fake Ronglian server."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import logging
import socket
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.checks import run_checks

from django_smsverify.backends import ronglian
from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage
from tests import fake_providers
from tests.backend_contract import FailingBackendContract
from tests.fake_providers import (
    RONGLIAN_ACCOUNT_SID,
    RONGLIAN_APP_ID,
    RONGLIAN_AUTH_TOKEN,
)

ronglian_server = fake_providers.ronglian_server

PATH = "django_smsverify.backends.ronglian.SmsBackend"
CODE = "482913"


def config(server, **extra):
    return {
        "ACCOUNT_SID": RONGLIAN_ACCOUNT_SID,
        "AUTH_TOKEN": RONGLIAN_AUTH_TOKEN,
        "APP_ID": RONGLIAN_APP_ID,
        "TEMPLATE_ID": "1",
        "NOTICE_TEMPLATE_ID": {"registered": "7", "unregistered": "8", "phone_changed": "9"},
        "BASE_URL": server.url,
        "TIMEOUT": (2, 2),
        **extra,
    }


@pytest.fixture
def configure(settings, ronglian_server):
    """Point the backend at the fake: ``configure(**extra_settings)``."""

    def apply(**extra):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"RONGLIAN": config(ronglian_server, **extra)}

    apply()
    return apply


def code_message(to=("+8613800138000",), purpose="register", code=CODE, **kwargs):
    return SmsMessage(
        to=list(to), body=f"code {code}", params=[code, "5"], purpose=purpose, **kwargs
    )


def send(message, fail_silently=False):
    return ronglian.SmsBackend(fail_silently=fail_silently).send_messages([message])


def silence_sdk(monkeypatch):
    """The official SDK prints the auth token and the body: shadow its print()."""
    module = importlib.import_module("ronglian_sms_sdk.SmsSDK")
    monkeypatch.setattr(module, "print", lambda *args, **kwargs: None, raising=False)
    return module.SmsSDK


class TestContract(FailingBackendContract):
    @pytest.fixture
    def backend_path(self):
        return PATH

    @pytest.fixture
    def make_backend(self, configure):
        return lambda fail_silently=False: ronglian.SmsBackend(fail_silently=fail_silently)

    @pytest.fixture
    def make_failing_backend(self, configure, ronglian_server):
        ronglian_server.reply("error", "160042")
        return lambda fail_silently=False: ronglian.SmsBackend(fail_silently=fail_silently)


class TestSending:
    def test_sends_a_signed_template_request(self, configure, ronglian_server):
        message = code_message()
        assert send(message) == 1
        (request,) = ronglian_server.requests
        assert request.verified, request.problems
        assert request.path.startswith(f"/2013-12-26/Accounts/{RONGLIAN_ACCOUNT_SID}/SMS/")
        assert request.json == {
            "to": "13800138000",
            "appId": RONGLIAN_APP_ID,
            "templateId": "1",
            "datas": [CODE, "5"],
        }
        status = message.status
        assert status.status == "sent"
        assert status.provider == "ronglian"
        assert status.provider_code == "000000"
        assert len(status.message_id) == 32
        assert status.recipients == {"+8613800138000": "sent"}

    def test_several_numbers_go_in_one_comma_separated_request(self, configure, ronglian_server):
        message = code_message(to=["+8613800138000", "+8613900139000", "+85291234567"])
        assert send(message) == 1
        (request,) = ronglian_server.requests
        assert request.json["to"] == "13800138000,13900139000,0085291234567"
        assert set(message.status.recipients.values()) == {"sent"}

    def test_more_than_200_numbers_are_refused_without_a_request(self, configure, ronglian_server):
        message = code_message(to=[f"+86138{n:08d}" for n in range(201)])
        with pytest.raises(SmsSendError) as excinfo:
            send(message)
        assert excinfo.value.provider_code == "160048"
        assert ronglian_server.requests == []

    def test_session_is_reused_within_a_batch_and_closed(self, configure, ronglian_server):
        backend = ronglian.SmsBackend()
        with backend:
            session = backend.session
            assert session is not None
            backend.send_messages([code_message(), code_message(code="111111")])
            assert backend.session is session
        assert backend.session is None
        assert len(ronglian_server.requests) == 2

    def test_base_url_trailing_slash_is_harmless(self, configure, ronglian_server):
        configure(BASE_URL=ronglian_server.url + "/")
        assert send(code_message()) == 1
        assert ronglian_server.requests[0].verified


class TestOfficialSdkParity:
    """Our request must be the one the official SDK sends, byte for byte where it counts."""

    def test_same_path_headers_body_and_signature(self, configure, ronglian_server, monkeypatch):
        sdk_class = silence_sdk(monkeypatch)
        moment = datetime(2026, 11, 21, 14, 51, 36, tzinfo=ZoneInfo("Asia/Shanghai"))
        with time_machine.travel(moment, tick=False):
            sdk = sdk_class(RONGLIAN_ACCOUNT_SID, RONGLIAN_AUTH_TOKEN, RONGLIAN_APP_ID)
            sdk.url = ronglian_server.url
            answer = json.loads(sdk.sendMessage("1", "13800138000", (CODE, "5")))
            assert send(code_message()) == 1
        assert answer["statusCode"] == "000000"
        theirs, ours = ronglian_server.requests
        assert theirs.verified and ours.verified
        expected_sig = (
            hashlib.md5(f"{RONGLIAN_ACCOUNT_SID}{RONGLIAN_AUTH_TOKEN}20261121145136".encode())  # noqa: S324
            .hexdigest()
            .upper()
        )
        assert theirs.path.endswith(f"?sig={expected_sig}")
        assert ours.path == theirs.path
        for name in ("Content-Type", "Accept", "Accept-Charset", "Authorization"):
            assert ours.headers[name] == theirs.headers[name], name
        assert base64.b64decode(ours.headers["Authorization"]).decode() == (
            f"{RONGLIAN_ACCOUNT_SID}:20261121145136"
        )
        assert ours.json == theirs.json

    def test_we_sign_with_beijing_time_on_a_utc_server(
        self, configure, ronglian_server, monkeypatch
    ):
        sdk_class = silence_sdk(monkeypatch)
        moment = datetime(2026, 11, 21, 6, 51, 36, tzinfo=ZoneInfo("UTC"))
        with time_machine.travel(moment, tick=False):
            assert send(code_message()) == 1
            sdk = sdk_class(RONGLIAN_ACCOUNT_SID, RONGLIAN_AUTH_TOKEN, RONGLIAN_APP_ID)
            sdk.url = ronglian_server.url
            answer = json.loads(sdk.sendMessage("1", "13800138000", (CODE, "5")))
        ours, theirs = ronglian_server.requests
        assert base64.b64decode(ours.headers["Authorization"]).decode().endswith(":20261121145136")
        assert ours.verified
        # The SDK signs with the host's local time (UTC here), 8 hours off.
        assert theirs.problems == ["timestamp-window"]
        assert answer["statusCode"] == "111106"


class TestTemplates:
    def test_template_per_purpose_with_default(self, configure, ronglian_server):
        configure(TEMPLATE_ID={"register": "11", "login": "12", "default": "19"})
        send(code_message(purpose="login"))
        send(code_message(purpose="change_phone"))
        send(code_message(purpose=None))
        assert [r.json["templateId"] for r in ronglian_server.requests] == ["12", "19", "19"]

    def test_missing_template_for_purpose_is_a_configuration_error(self, configure):
        configure(TEMPLATE_ID={"register": "11"})
        with pytest.raises(SmsConfigurationError, match=r"\['TEMPLATE_ID'\].*'login'"):
            send(code_message(purpose="login"), fail_silently=True)

    def test_param_order_is_configurable_per_purpose(self, configure, ronglian_server):
        configure(TEMPLATE_PARAMS={"login": ["code"], "default": ["minutes", "code"]})
        send(code_message(purpose="login"))
        send(code_message(purpose="register"))
        assert [r.json["datas"] for r in ronglian_server.requests] == [[CODE], ["5", CODE]]

    def test_message_template_id_wins_and_keeps_its_params(self, configure, ronglian_server):
        configure(TEMPLATE_PARAMS=["code"])
        message = SmsMessage(["+8613800138000"], template_id="77", params=["a", "b", "c"])
        assert send(message) == 1
        assert ronglian_server.requests[0].json["templateId"] == "77"
        assert ronglian_server.requests[0].json["datas"] == ["a", "b", "c"]

    def test_message_without_the_needed_params_fails_permanently(self, configure, ronglian_server):
        message = SmsMessage(["+8613800138000"], body="hi", purpose="login")
        with pytest.raises(SmsSendError) as excinfo:
            send(message)
        assert not excinfo.value.transient
        assert ronglian_server.requests == []


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "transient"),
        [
            ("160038", True),
            ("160039", True),
            ("160040", True),
            ("172001", True),
            ("160050", True),
            ("160042", False),
            ("112310", False),
            ("111109", False),
            ("112311", False),
            ("160032", False),
            ("160034", False),
            ("111142", False),
        ],
    )
    def test_error_codes_map_to_transient_or_permanent(
        self, configure, ronglian_server, code, transient
    ):
        ronglian_server.reply("error", code)
        message = code_message()
        with pytest.raises(SmsSendError) as excinfo:
            send(message)
        error = excinfo.value
        assert (error.provider, error.provider_code, error.transient) == (
            "ronglian",
            code,
            transient,
        )
        assert error.detail == ronglian.ERRORS[code][1]
        assert error.response["statusCode"] == code
        assert message.status.status == "failed"
        assert ronglian_server.requests[0].verified

    def test_unknown_code_is_permanent_and_keeps_ronglian_text(self, configure, ronglian_server):
        ronglian_server.reply("error", "999999")
        with pytest.raises(SmsSendError) as excinfo:
            send(code_message())
        assert excinfo.value.provider_code == "999999"
        assert not excinfo.value.transient
        assert "fake error 999999" in excinfo.value.detail

    def test_wrong_auth_token_is_caught_by_the_signature_check(self, configure, ronglian_server):
        configure(AUTH_TOKEN="not-the-token")
        with pytest.raises(SmsSendError) as excinfo:
            send(code_message())
        assert excinfo.value.provider_code == "111109"
        assert not excinfo.value.transient
        assert ronglian_server.requests[0].problems == ["sig"]

    def test_timeout_is_transient_and_prompt(self, configure, ronglian_server):
        configure(TIMEOUT=(1, 0.3))
        ronglian_server.reply("slow", delay=3)
        started = time.monotonic()
        with pytest.raises(SmsSendError) as excinfo:
            send(code_message())
        assert time.monotonic() - started < 2
        assert excinfo.value.transient
        assert excinfo.value.provider_code is None
        assert "ReadTimeout" in excinfo.value.detail

    def test_http_500_is_transient(self, configure, ronglian_server):
        ronglian_server.reply("http500")
        with pytest.raises(SmsSendError) as excinfo:
            send(code_message())
        assert (excinfo.value.provider_code, excinfo.value.transient) == ("500", True)

    def test_malformed_body_is_an_error(self, configure, ronglian_server):
        ronglian_server.reply("malformed")
        with pytest.raises(SmsSendError) as excinfo:
            send(code_message())
        assert excinfo.value.transient
        assert "not the JSON object" in excinfo.value.detail

    def test_connection_refused_is_transient(self, configure):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        configure(BASE_URL=f"http://127.0.0.1:{port}")
        with pytest.raises(SmsSendError) as excinfo:
            send(code_message())
        assert excinfo.value.transient
        assert "ConnectionError" in excinfo.value.detail

    @pytest.mark.parametrize("key", ["ACCOUNT_SID", "AUTH_TOKEN", "APP_ID"])
    def test_missing_credential_is_a_configuration_error(self, settings, ronglian_server, key):
        block = config(ronglian_server)
        del block[key]
        settings.SMSVERIFY = {"RONGLIAN": block}
        with pytest.raises(SmsConfigurationError, match=rf"\['RONGLIAN'\]\['{key}'\] is missing"):
            send(code_message(), fail_silently=True)
        assert ronglian_server.requests == []


def test_nothing_secret_reaches_output_or_logs(configure, ronglian_server, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    messages = [code_message()]
    send(messages[0])
    ronglian_server.reply("error", "160038")
    messages.append(code_message())
    send(messages[1], fail_silently=True)
    configure(TIMEOUT=(1, 0.3))
    ronglian_server.reply("slow", delay=3)
    messages.append(code_message())
    send(messages[2], fail_silently=True)

    assert [m.status.status for m in messages] == ["sent", "failed", "failed"]
    assert any(r.name.startswith("urllib3") for r in caplog.records), "DEBUG was not captured"
    out, err = capfd.readouterr()
    formatter = logging.Formatter("%(name)s %(message)s")
    texts = [out, err, caplog.text, *(formatter.format(r) for r in caplog.records)]
    texts += [str(m.status.error) for m in messages[1:]] + [repr(m) for m in messages]
    for secret in (RONGLIAN_AUTH_TOKEN, CODE):
        assert not [text for text in texts if secret in text]


def test_missing_requests_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "django_smsverify.backends.ronglian")
    for name in [n for n in sys.modules if n == "requests" or n.startswith("requests.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependency) as excinfo:
        importlib.import_module("django_smsverify.backends.ronglian")
    assert excinfo.value.extra == "ronglian"
    assert 'pip install "django-smsverify[ronglian]"' in str(excinfo.value)


class TestChecks:
    def ids(self):
        return sorted(e.id for e in run_checks() if e.id.startswith("smsverify.E10"))

    def messages(self):
        return [e.msg for e in run_checks() if e.id.startswith("smsverify.E10")]

    def test_valid_settings_pass(self, configure):
        assert self.ids() == []

    def test_other_backend_is_not_checked(self, settings):
        settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
        settings.SMSVERIFY = {"RONGLIAN": {"AUTH_TOKEN": ""}}
        assert self.ids() == []

    def test_e101_account_sid(self, configure, ronglian_server):
        configure(ACCOUNT_SID="")
        assert self.ids() == ["smsverify.E101"]
        assert self.messages() == ["SMSVERIFY['RONGLIAN']['ACCOUNT_SID'] is empty."]

    def test_e102_auth_token(self, settings, configure, ronglian_server):
        block = config(ronglian_server)
        del block["AUTH_TOKEN"]
        settings.SMSVERIFY = {"RONGLIAN": block}
        assert self.ids() == ["smsverify.E102"]
        assert self.messages() == ["SMSVERIFY['RONGLIAN']['AUTH_TOKEN'] is missing."]

    def test_e103_app_id(self, configure):
        configure(APP_ID=" 8a216da8 ")
        assert self.ids() == ["smsverify.E103"]
        assert "['APP_ID'] has leading or trailing whitespace" in self.messages()[0]

    def test_e104_template_id(self, configure):
        configure(TEMPLATE_ID={"signup": "1"})
        assert self.ids() == ["smsverify.E104"]
        assert "['TEMPLATE_ID'] has unknown purpose 'signup'" in self.messages()[0]

    def test_e105_unknown_key(self, configure):
        configure(TOKEN="x")
        assert self.ids() == ["smsverify.E105"]
        assert "Unknown key 'TOKEN' in SMSVERIFY['RONGLIAN']" in self.messages()[0]

    def test_e105_block_that_is_not_a_dict(self, settings):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"RONGLIAN": ["ACCOUNT_SID"]}
        assert self.ids() == ["smsverify.E105"]
        assert self.messages() == ["SMSVERIFY['RONGLIAN'] must be a dict; got list."]

    def test_e106_bad_values(self, configure):
        configure(BASE_URL="app.cloopen.com", TIMEOUT=0, TEMPLATE_PARAMS=["code", "ttl"])
        assert self.ids() == ["smsverify.E106"] * 3

    def test_no_block_at_all_reports_every_credential(self, settings):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {}
        assert self.ids() == [
            "smsverify.E101",
            "smsverify.E102",
            "smsverify.E103",
            "smsverify.E104",
            "smsverify.E107",
        ]
