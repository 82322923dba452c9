"""The Aliyun backend: the real SDK, driven end to end against the fake server."""

from __future__ import annotations

import importlib
import json
import logging
import socket
import sys
import time
import warnings

import pytest
from django.core.checks import run_checks

from django_smsverify.backends import aliyun
from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage
from tests import fake_aliyun
from tests.backend_contract import FailingBackendContract
from tests.fake_aliyun import (
    ALIYUN_ACCESS_KEY_ID,
    ALIYUN_ACCESS_KEY_SECRET,
    ALIYUN_SIGN_NAME,
    query_of,
)

aliyun_server = fake_aliyun.aliyun_server

PATH = "django_smsverify.backends.aliyun.SmsBackend"
CODE = "482913"
PHONE = "+8613800138000"
OTHER = "+8613900139000"
NOTICES = {"registered": "SMS_7001", "unregistered": "SMS_7002", "phone_changed": "SMS_7003"}


def config(server, **extra):
    return {
        "ACCESS_KEY_ID": ALIYUN_ACCESS_KEY_ID,
        "ACCESS_KEY_SECRET": ALIYUN_ACCESS_KEY_SECRET,
        "SIGN_NAME": ALIYUN_SIGN_NAME,
        "TEMPLATE_ID": "SMS_1001",
        "NOTICE_TEMPLATE_ID": NOTICES,
        "ENDPOINT": server.url,
        "TIMEOUT": 2,
        **extra,
    }


@pytest.fixture
def configure(settings, aliyun_server):
    """Point the backend at the fake: ``configure(**extra_settings)``."""

    def apply(**extra):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"ALIYUN": config(aliyun_server, **extra)}

    apply()
    return apply


def code_message(to=(PHONE,), purpose="register", code=CODE, **kwargs):
    return SmsMessage(
        to=list(to), body=f"code {code}", params=[code, "5"], purpose=purpose, **kwargs
    )


def send(message, fail_silently=False):
    return aliyun.SmsBackend(fail_silently=fail_silently).send_messages([message])


def failure(message):
    with pytest.raises(SmsSendError) as excinfo:
        send(message)
    return excinfo.value


def refused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TestContract(FailingBackendContract):
    @pytest.fixture
    def backend_path(self):
        return PATH

    @pytest.fixture
    def make_backend(self, configure):
        return lambda fail_silently=False: aliyun.SmsBackend(fail_silently=fail_silently)

    @pytest.fixture
    def make_failing_backend(self, configure, aliyun_server):
        aliyun_server.reply("error", "isv.SMS_TEMPLATE_ILLEGAL")
        return lambda fail_silently=False: aliyun.SmsBackend(fail_silently=fail_silently)


class TestSending:
    def test_sends_a_signed_sendsms_request(self, configure, aliyun_server):
        message = code_message()
        assert send(message) == 1
        (request,) = aliyun_server.requests
        assert request.verified, request.problems
        assert request.method == "POST"
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert (headers["x-acs-action"], headers["x-acs-version"]) == ("SendSms", "2017-05-25")
        assert headers["authorization"].startswith(
            f"ACS3-HMAC-SHA256 Credential={ALIYUN_ACCESS_KEY_ID},"
        )
        assert query_of(request) == {
            "PhoneNumbers": "13800138000",
            "SignName": ALIYUN_SIGN_NAME,
            "TemplateCode": "SMS_1001",
            "TemplateParam": f'{{"code":"{CODE}"}}',
        }
        status = message.status
        assert (status.status, status.provider, status.provider_code) == ("sent", "aliyun", "OK")
        assert status.message_id.endswith("^0")  # the BizId
        assert status.recipients == {PHONE: "sent"}

    def test_numbers_are_written_as_aliyun_wants_them(self, configure, aliyun_server):
        message = code_message(to=[PHONE, "+85291234567", "+14155550123"])
        assert send(message) == 1
        assert query_of(aliyun_server.requests[0])["PhoneNumbers"] == (
            "13800138000,85291234567,14155550123"
        )
        assert message.status.recipients == dict.fromkeys(message.to, "sent")

    def test_client_is_reused_within_a_batch_and_dropped(self, configure, aliyun_server):
        backend = aliyun.SmsBackend()
        with backend:
            client = backend.client
            assert backend.send_messages([code_message(), code_message(code="111111")]) == 2
            assert backend.client is client
        assert backend.client is None
        assert [r.verified for r in aliyun_server.requests] == [True, True]

    def test_deprecation_warning_as_error_does_not_break_a_send(self, configure, aliyun_server):
        # The SDK stamps requests with datetime.utcnow(), deprecated in 3.12.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert send(code_message()) == 1


class TestTemplates:
    def test_template_per_purpose_with_default(self, configure, aliyun_server):
        configure(TEMPLATE_ID={"login": "SMS_2001", "default": "SMS_2009"})
        send(code_message(purpose="login"))
        send(code_message(purpose="reset_password"))
        codes = [query_of(r)["TemplateCode"] for r in aliyun_server.requests]
        assert codes == ["SMS_2001", "SMS_2009"]

    def test_template_params_use_the_templates_variable_names(self, configure, aliyun_server):
        configure(TEMPLATE_PARAMS={"code": "code", "min": "minutes"})
        send(code_message())
        param = json.loads(query_of(aliyun_server.requests[0])["TemplateParam"])
        assert param == {"code": CODE, "min": "5"}

    def test_template_params_per_purpose(self, configure, aliyun_server):
        configure(
            TEMPLATE_PARAMS={"login": {"otp": "code"}, "default": {"code": "code", "m": "minutes"}}
        )
        send(code_message(purpose="login"))
        send(code_message(purpose="register"))
        params = [json.loads(query_of(r)["TemplateParam"]) for r in aliyun_server.requests]
        assert params == [{"otp": CODE}, {"code": CODE, "m": "5"}]

    @pytest.mark.parametrize("kind", ["registered", "unregistered", "phone_changed"])
    def test_notice_has_its_own_template_and_no_param(self, configure, aliyun_server, kind):
        notice = SmsMessage([PHONE], body="notice", purpose=f"notice_{kind}")
        assert send(notice) == 1
        query = query_of(aliyun_server.requests[0])
        assert query["TemplateCode"] == NOTICES[kind]
        assert "TemplateParam" not in query

    def test_missing_notice_template_is_a_configuration_error(self, configure, aliyun_server):
        configure(NOTICE_TEMPLATE_ID={"registered": "SMS_7001"})
        notice = SmsMessage([PHONE], body="notice", purpose="notice_unregistered")
        with pytest.raises(SmsConfigurationError, match="'unregistered'"):
            send(notice, fail_silently=True)
        assert aliyun_server.requests == []

    def test_missing_template_is_a_configuration_error(self, configure, aliyun_server):
        configure(TEMPLATE_ID={"login": "SMS_2001"})
        with pytest.raises(SmsConfigurationError, match="'register'"):
            send(code_message(), fail_silently=True)
        assert aliyun_server.requests == []

    def test_message_template_id_wins(self, configure, aliyun_server):
        send(SmsMessage([PHONE], template_id="SMS_3003", params=["777"]))
        query = query_of(aliyun_server.requests[0])
        assert (query["TemplateCode"], query["TemplateParam"]) == ("SMS_3003", '{"code":"777"}')

    def test_message_without_the_value_is_refused_before_sending(self, configure, aliyun_server):
        configure(TEMPLATE_PARAMS={"code": "code", "min": "minutes"})
        error = failure(SmsMessage([PHONE], params=[CODE], purpose="login"))
        assert "no minutes value" in error.detail
        assert not error.transient
        assert aliyun_server.requests == []


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "transient", "rate_limited", "http_status"),
        [
            ("isv.BUSINESS_LIMIT_CONTROL", True, True, 200),
            ("isv.DAY_LIMIT_CONTROL", True, True, 200),
            ("isv.MOBILE_NUMBER_ILLEGAL", False, False, 200),
            ("isv.AMOUNT_NOT_ENOUGH", False, False, 200),
            ("isv.SMS_TEMPLATE_ILLEGAL", False, False, 200),
            ("isv.SMS_SIGNATURE_ILLEGAL", False, False, 200),
            ("isv.INVALID_PARAMETERS", False, False, 200),
            ("isv.SOMETHING_NEW", False, False, 200),  # by family
            ("isp.SYSTEM_ERROR", True, False, 200),
            ("SignatureDoesNotMatch", False, False, 400),
            ("InvalidAccessKeyId.NotFound", False, False, 404),
            ("Throttling.User", True, False, 400),
            ("Throttling.Unknown", True, False, 400),  # by family
            ("ServiceUnavailable", True, False, 503),
            ("InternalError", True, False, 500),
        ],
    )
    def test_error_codes_map_to_transient_or_permanent(
        self, configure, aliyun_server, code, transient, rate_limited, http_status
    ):
        assert aliyun_server.error_reply(code)[0] == http_status
        aliyun_server.reply("error", code)
        message = code_message()
        error = failure(message)
        assert (error.provider, error.provider_code, error.transient) == ("aliyun", code, transient)
        assert (error.rate_limited, error.maybe_sent) == (rate_limited, False)
        assert error.response["RequestId"]
        assert message.status.status == "failed"
        assert message.status.provider_code == code
        assert aliyun_server.requests[0].verified

    def test_wrong_secret_fails_the_fakes_signature_check(self, configure, aliyun_server):
        configure(ACCESS_KEY_SECRET="not-the-secret")
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("SignatureDoesNotMatch", False)
        assert "SignatureDoesNotMatch" in str(error)
        assert aliyun_server.requests[0].problems == ["signature"]

    def test_unknown_access_key_id(self, configure, aliyun_server):
        configure(ACCESS_KEY_ID="LTAIunknown")
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("InvalidAccessKeyId.NotFound", False)

    def test_read_timeout_may_have_sent_and_is_prompt(self, configure, aliyun_server):
        configure(TIMEOUT=(1, 0.3))
        aliyun_server.reply("slow", delay=3)
        started = time.monotonic()
        error = failure(code_message())
        assert time.monotonic() - started < 2
        assert (error.transient, error.maybe_sent) == (True, True)
        assert len(aliyun_server.requests) == 1  # the SDK did not retry

    def test_dropped_connection_may_have_sent(self, configure, aliyun_server):
        aliyun_server.reply("drop")
        error = failure(code_message())
        assert (error.transient, error.maybe_sent) == (True, True)

    @pytest.mark.parametrize("mode", ["http500", "http504", "malformed"])
    def test_unreadable_reply_may_have_sent(self, configure, aliyun_server, mode):
        aliyun_server.reply(mode)
        message = code_message()
        error = failure(message)
        assert (error.transient, error.maybe_sent) == (True, True)
        assert "could not be read" in error.detail
        assert message.status.status == "failed"

    def test_connection_refused_is_transient_and_not_sent(self, configure):
        configure(ENDPOINT=f"http://127.0.0.1:{refused_port()}")
        error = failure(code_message())
        assert (error.transient, error.maybe_sent) == (True, False)
        assert "could not reach Aliyun" in error.detail

    @pytest.mark.parametrize("key", ["ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME"])
    def test_missing_credential_is_a_configuration_error(self, settings, aliyun_server, key):
        block = config(aliyun_server)
        del block[key]
        settings.SMSVERIFY = {"ALIYUN": block}
        with pytest.raises(SmsConfigurationError, match=rf"\['ALIYUN'\]\['{key}'\] is missing"):
            send(code_message(), fail_silently=True)
        assert aliyun_server.requests == []

    def test_endpoint_with_a_path_is_a_configuration_error(self, configure):
        configure(ENDPOINT="https://dysmsapi.aliyuncs.com/v1")
        with pytest.raises(SmsConfigurationError, match="ENDPOINT"):
            send(code_message(), fail_silently=True)


def _leaks(texts, secrets):
    return [(secret, text) for secret in secrets for text in texts if secret in text]


def test_nothing_secret_reaches_output_or_logs(
    configure, aliyun_server, capfd, caplog, monkeypatch
):
    # DEBUG=sdk makes darabonba dump each request (URL and Authorization header).
    monkeypatch.setenv("DEBUG", "sdk")
    caplog.set_level(logging.DEBUG)
    messages = [code_message(), code_message(), code_message()]
    send(messages[0])
    aliyun_server.reply("error", "isv.SMS_SIGNATURE_ILLEGAL")
    send(messages[1], fail_silently=True)
    configure(TIMEOUT=(1, 0.3))
    aliyun_server.reply("slow", delay=3)
    send(messages[2], fail_silently=True)

    assert [m.status.status for m in messages] == ["sent", "failed", "failed"]
    assert any(r.name.startswith("urllib3") for r in caplog.records), "DEBUG was not captured"
    signatures = [
        {k.lower(): v for k, v in r.headers.items()}["authorization"].rsplit("Signature=", 1)[1]
        for r in aliyun_server.requests
    ]
    out, err = capfd.readouterr()
    formatter = logging.Formatter("%(name)s %(message)s")
    texts = [out, err, caplog.text, *(formatter.format(r) for r in caplog.records)]
    texts += [str(m.status.error) for m in messages[1:]] + [repr(m) for m in messages]
    assert not _leaks(texts, [ALIYUN_ACCESS_KEY_SECRET, CODE, *signatures])


def test_without_our_filters_the_sdk_and_urllib3_would_log_secrets(
    configure, aliyun_server, caplog, monkeypatch
):
    # Proves the test above can fail: at DEBUG the signature and the code do
    # reach the log records unless our filters drop or redact them.
    for name in ("darabonba-core", "urllib3.connectionpool"):
        monkeypatch.setattr(logging.getLogger(name), "filters", [])
    monkeypatch.setenv("DEBUG", "sdk")
    caplog.set_level(logging.DEBUG)
    send(code_message())
    headers = {k.lower(): v for k, v in aliyun_server.requests[0].headers.items()}
    signature = headers["authorization"].rsplit("Signature=", 1)[1]
    assert signature in caplog.text
    assert CODE in caplog.text


def test_missing_sdk_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "django_smsverify.backends.aliyun")
    for name in [n for n in sys.modules if n.startswith("alibabacloud_dysmsapi20170525")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "alibabacloud_dysmsapi20170525", None)
    with pytest.raises(MissingDependency) as excinfo:
        importlib.import_module("django_smsverify.backends.aliyun")
    assert excinfo.value.extra == "aliyun"
    assert 'pip install "django-smsverify[aliyun]"' in str(excinfo.value)


class TestChecks:
    def errors(self):
        return [e for e in run_checks() if e.id.startswith("smsverify.") and e.id[11:13] == "12"]

    def ids(self):
        return sorted(e.id for e in self.errors())

    def test_valid_settings_pass(self, configure):
        assert self.ids() == []

    def test_other_backend_is_not_checked(self, settings):
        settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
        settings.SMSVERIFY = {"ALIYUN": {"ACCESS_KEY_SECRET": ""}}
        assert self.ids() == []

    def test_e120_access_key_id(self, configure):
        configure(ACCESS_KEY_ID="")
        assert self.ids() == ["smsverify.E120"]
        assert self.errors()[0].msg == "SMSVERIFY['ALIYUN']['ACCESS_KEY_ID'] is empty."

    def test_e121_access_key_secret(self, settings, aliyun_server):
        block = config(aliyun_server)
        del block["ACCESS_KEY_SECRET"]
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"ALIYUN": block}
        assert self.ids() == ["smsverify.E121"]
        assert self.errors()[0].msg == "SMSVERIFY['ALIYUN']['ACCESS_KEY_SECRET'] is missing."

    def test_e122_sign_name(self, configure):
        configure(SIGN_NAME=" 签名")
        assert self.ids() == ["smsverify.E122"]
        assert "['SIGN_NAME'] has leading or trailing whitespace" in self.errors()[0].msg

    def test_e123_template_id(self, configure):
        configure(TEMPLATE_ID={"login": "SMS_1", "signup": "SMS_2"})
        assert self.ids() == ["smsverify.E123"]
        assert "unknown purpose 'signup'" in self.errors()[0].msg

    def test_e124_unknown_key(self, configure):
        configure(SECRET_KEY="x")
        assert self.ids() == ["smsverify.E124"]
        assert "Unknown key 'SECRET_KEY' in SMSVERIFY['ALIYUN']" in self.errors()[0].msg

    def test_e124_block_that_is_not_a_dict(self, settings):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"ALIYUN": "LTAI"}
        assert self.ids() == ["smsverify.E124"]
        assert self.errors()[0].msg == "SMSVERIFY['ALIYUN'] must be a dict; got str."

    def test_e125_bad_values(self, configure):
        configure(
            ENDPOINT="ftp://dysmsapi.aliyuncs.com",
            REGION_ID="",
            TIMEOUT=(1, 2, 3),
            TEMPLATE_PARAMS={"code": "otp"},
        )
        assert self.ids() == ["smsverify.E125"] * 4
        messages = " ".join(e.msg for e in self.errors())
        assert "maps 'code' to unknown value 'otp'" in messages

    def test_e125_template_params_as_a_list(self, configure):
        configure(TEMPLATE_PARAMS=["code"])
        assert self.ids() == ["smsverify.E125"]

    def test_e126_notice_templates_with_prevent_enumeration(self, settings, aliyun_server):
        block = config(aliyun_server)
        del block["NOTICE_TEMPLATE_ID"]
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"ALIYUN": block, "PREVENT_ENUMERATION": True}
        assert self.ids() == ["smsverify.E126"]
        assert "'registered' and 'unregistered' notice" in self.errors()[0].msg

    def test_w126_no_phone_changed_notice(self, configure):
        configure(NOTICE_TEMPLATE_ID={"registered": "SMS_1", "unregistered": "SMS_2"})
        assert self.ids() == ["smsverify.W126"]
