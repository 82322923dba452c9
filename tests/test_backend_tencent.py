"""The Tencent Cloud backend: the real SDK, driven end to end against the fake server."""

from __future__ import annotations

import importlib
import logging
import socket
import sys
import time
import warnings

import pytest
from django.core.checks import run_checks

from django_smsverify.backends import tencent
from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage
from tests import fake_providers
from tests.backend_contract import FailingBackendContract
from tests.fake_providers import TENCENT_SDK_APP_ID, TENCENT_SECRET_ID, TENCENT_SECRET_KEY

tencent_server = fake_providers.tencent_server

PATH = "django_smsverify.backends.tencent.SmsBackend"
CODE = "482913"
PHONE = "+8613800138000"
OTHER = "+8613900139000"


def config(server, **extra):
    return {
        "SECRET_ID": TENCENT_SECRET_ID,
        "SECRET_KEY": TENCENT_SECRET_KEY,
        "SDK_APP_ID": TENCENT_SDK_APP_ID,
        "SIGN_NAME": "测试签名",
        "TEMPLATE_ID": "1110",
        "NOTICE_TEMPLATE_ID": {"registered": "7", "unregistered": "8", "phone_changed": "9"},
        "ENDPOINT": server.host,
        "SCHEME": "http",
        "TIMEOUT": 2,
        **extra,
    }


@pytest.fixture
def configure(settings, tencent_server):
    """Point the backend at the fake: ``configure(**extra_settings)``."""

    def apply(**extra):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"TENCENT": config(tencent_server, **extra)}

    apply()
    return apply


def code_message(to=(PHONE,), purpose="register", code=CODE, **kwargs):
    return SmsMessage(
        to=list(to), body=f"code {code}", params=[code, "5"], purpose=purpose, **kwargs
    )


def send(message, fail_silently=False):
    return tencent.SmsBackend(fail_silently=fail_silently).send_messages([message])


def failure(message):
    with pytest.raises(SmsSendError) as excinfo:
        send(message)
    return excinfo.value


class TestContract(FailingBackendContract):
    @pytest.fixture
    def backend_path(self):
        return PATH

    @pytest.fixture
    def make_backend(self, configure):
        return lambda fail_silently=False: tencent.SmsBackend(fail_silently=fail_silently)

    @pytest.fixture
    def make_failing_backend(self, configure, tencent_server):
        tencent_server.reply("error", "FailedOperation.TemplateIncorrectOrUnapproved")
        return lambda fail_silently=False: tencent.SmsBackend(fail_silently=fail_silently)


class TestSending:
    def test_sends_a_signed_sendsms_request(self, configure, tencent_server):
        message = code_message()
        assert send(message) == 1
        (request,) = tencent_server.requests
        assert request.verified, request.problems
        assert request.headers["X-TC-Action"] == "SendSms"
        assert request.headers["X-TC-Version"] == "2021-01-11"
        assert request.headers["X-TC-Region"] == "ap-guangzhou"
        assert request.headers["Host"] == tencent_server.host
        assert request.json == {
            "PhoneNumberSet": [PHONE],
            "SmsSdkAppId": TENCENT_SDK_APP_ID,
            "SignName": "测试签名",
            "TemplateId": "1110",
            "TemplateParamSet": [CODE, "5"],
        }
        status = message.status
        assert (status.status, status.provider, status.provider_code) == ("sent", "tencent", "Ok")
        assert status.message_id.startswith("2433:")
        assert status.recipients == {PHONE: "sent"}

    def test_region_setting_is_sent(self, configure, tencent_server):
        configure(REGION="ap-beijing")
        send(code_message())
        assert tencent_server.requests[0].headers["X-TC-Region"] == "ap-beijing"

    def test_each_number_is_checked(self, configure, tencent_server):
        tencent_server.number_codes = {OTHER: "InvalidParameterValue.IncorrectPhoneNumber"}
        message = code_message(to=[PHONE, OTHER])
        assert send(message) == 1
        status = message.status
        assert status.recipients == {PHONE: "sent", OTHER: "failed"}
        assert status.provider_code == "InvalidParameterValue.IncorrectPhoneNumber"

    def test_refusal_of_the_only_number_is_an_error_despite_http_200(
        self, configure, tencent_server
    ):
        tencent_server.number_codes = {PHONE: "LimitExceeded.PhoneNumberDailyLimit"}
        message = code_message()
        error = failure(message)
        assert (error.provider_code, error.transient) == (
            "LimitExceeded.PhoneNumberDailyLimit",
            True,
        )
        assert message.status.status == "failed"

    def test_all_refused_is_transient_only_if_every_refusal_is(self, configure, tencent_server):
        tencent_server.number_codes = {
            PHONE: "LimitExceeded.PhoneNumberOneHourLimit",
            OTHER: "FailedOperation.PhoneNumberInBlacklist",
        }
        error = failure(code_message(to=[PHONE, OTHER]))
        assert error.provider_code == "LimitExceeded.PhoneNumberOneHourLimit"
        assert not error.transient

    def test_client_is_reused_within_a_batch_and_dropped(self, configure, tencent_server):
        backend = tencent.SmsBackend()
        with backend:
            client = backend.client
            backend.send_messages([code_message(), code_message(code="111111")])
            assert backend.client is client
        assert backend.client is None
        assert len(tencent_server.requests) == 2

    def test_proxy_in_environment_is_not_used_for_a_loopback_endpoint(
        self, configure, tencent_server, monkeypatch
    ):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead = sock.getsockname()[1]
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{dead}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the SDK's substring test misses this
        assert send(code_message()) == 1
        assert tencent_server.requests[0].verified

    def test_deprecation_warning_as_error_does_not_break_a_send(self, configure, tencent_server):
        # On Python 3.12+ the SDK's signing code warns (utcfromtimestamp); a
        # site running with -W error must still send.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert send(code_message()) == 1

    def test_sdk_debug_records_are_dropped(self, configure, tencent_server, caplog):
        caplog.set_level(logging.DEBUG)
        logging.getLogger("tencentcloud_sdk_common").setLevel(logging.DEBUG)
        try:
            send(code_message())
        finally:
            logging.getLogger("tencentcloud_sdk_common").setLevel(logging.NOTSET)
        assert not [r for r in caplog.records if r.name == "tencentcloud_sdk_common"]

    def test_without_our_filter_the_sdk_would_log_secrets(
        self, configure, tencent_server, caplog, monkeypatch
    ):
        # Proves the leak test below can fail: the SDK does log these at DEBUG.
        sdk_logger = logging.getLogger("tencentcloud_sdk_common")
        monkeypatch.setattr(sdk_logger, "filters", [])
        caplog.set_level(logging.DEBUG)
        send(code_message())
        assert TENCENT_SECRET_ID in caplog.text
        assert CODE in caplog.text


class TestTemplates:
    def test_template_per_purpose_with_default(self, configure, tencent_server):
        configure(TEMPLATE_ID={"login": "2001", "default": "2009"})
        send(code_message(purpose="login"))
        send(code_message(purpose="reset_password"))
        assert [r.json["TemplateId"] for r in tencent_server.requests] == ["2001", "2009"]

    def test_missing_template_is_a_configuration_error(self, configure, tencent_server):
        configure(TEMPLATE_ID={"login": "2001"})
        with pytest.raises(SmsConfigurationError, match="'register'"):
            send(code_message(), fail_silently=True)
        assert tencent_server.requests == []

    def test_param_order_is_configurable(self, configure, tencent_server):
        configure(TEMPLATE_PARAMS={"register": ["code"], "default": ["minutes", "code"]})
        send(code_message(purpose="register"))
        send(code_message(purpose="login"))
        assert [r.json["TemplateParamSet"] for r in tencent_server.requests] == [
            [CODE],
            ["5", CODE],
        ]

    def test_message_template_id_wins(self, configure, tencent_server):
        send(SmsMessage([PHONE], template_id="3003", params=["x"]))
        assert tencent_server.requests[0].json["TemplateId"] == "3003"
        assert tencent_server.requests[0].json["TemplateParamSet"] == ["x"]


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "transient"),
        [
            ("LimitExceeded.PhoneNumberThirtySecondLimit", True),
            ("LimitExceeded.AppGlobalDailyLimit", True),  # by family
            ("RequestLimitExceeded", True),
            ("InternalError.Timeout", True),
            ("LimitExceeded.PhoneNumberCountLimit", False),
            ("InvalidParameterValue.IncorrectPhoneNumber", False),
            ("FailedOperation.SignatureIncorrectOrUnapproved", False),
            ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate", False),
            ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", False),
            ("FailedOperation.MarketingSendTimeConstraint", False),  # by family
        ],
    )
    def test_request_errors_map_to_transient_or_permanent(
        self, configure, tencent_server, code, transient
    ):
        tencent_server.reply("error", code)
        message = code_message()
        error = failure(message)
        assert (error.provider, error.provider_code, error.transient) == (
            "tencent",
            code,
            transient,
        )
        assert error.response["RequestId"]
        assert message.status.status == "failed"
        assert tencent_server.requests[0].verified

    def test_per_number_code_is_mapped_too(self, configure, tencent_server):
        tencent_server.number_codes = {PHONE: "InvalidParameterValue.IncorrectPhoneNumber"}
        error = failure(code_message())
        assert error.provider_code == "InvalidParameterValue.IncorrectPhoneNumber"
        assert not error.transient
        assert error.detail == "the mobile number is not valid"

    def test_wrong_secret_key_fails_the_signature_check(self, configure, tencent_server):
        configure(SECRET_KEY="not-the-key")
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("AuthFailure.SignatureFailure", False)
        assert tencent_server.requests[0].problems == ["signature"]

    def test_unknown_secret_id(self, configure, tencent_server):
        configure(SECRET_ID="AKIDunknown")
        assert failure(code_message()).provider_code == "AuthFailure.SecretIdNotFound"

    def test_timeout_is_transient_and_prompt(self, configure, tencent_server):
        configure(TIMEOUT=(1, 0.3))
        tencent_server.reply("slow", delay=3)
        started = time.monotonic()
        error = failure(code_message())
        assert time.monotonic() - started < 2
        assert (error.provider_code, error.transient) == ("ClientNetworkError", True)

    def test_http_500_is_transient(self, configure, tencent_server):
        tencent_server.reply("http500")
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("ServerNetworkError", True)

    def test_malformed_body_is_an_error(self, configure, tencent_server):
        tencent_server.reply("malformed")
        error = failure(code_message())
        assert error.transient
        assert error.provider_code == "JSONDecodeError"

    def test_error_sent_with_charset_content_type_is_not_a_success(self, configure, tencent_server):
        # The SDK ignores the error body unless Content-Type is exactly
        # application/json and returns an empty response instead.
        tencent_server.reply("charset_error", "LimitExceeded.PhoneNumberDailyLimit")
        message = code_message()
        error = failure(message)
        assert "SendStatusSet is empty" in error.detail
        assert message.status.status == "failed"

    def test_connection_refused_is_transient(self, configure):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        configure(ENDPOINT=f"127.0.0.1:{port}")
        error = failure(code_message())
        assert (error.provider_code, error.transient) == ("ClientNetworkError", True)

    @pytest.mark.parametrize("key", ["SECRET_ID", "SECRET_KEY", "SDK_APP_ID"])
    def test_missing_credential_is_a_configuration_error(self, settings, tencent_server, key):
        block = config(tencent_server)
        del block[key]
        settings.SMSVERIFY = {"TENCENT": block}
        with pytest.raises(SmsConfigurationError, match=rf"\['TENCENT'\]\['{key}'\] is missing"):
            send(code_message(), fail_silently=True)
        assert tencent_server.requests == []

    def test_endpoint_with_scheme_is_a_configuration_error(self, configure):
        configure(ENDPOINT="https://sms.tencentcloudapi.com")
        with pytest.raises(SmsConfigurationError, match="without a scheme"):
            send(code_message(), fail_silently=True)


def test_nothing_secret_reaches_output_or_logs(configure, tencent_server, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("tencentcloud_sdk_common").setLevel(logging.DEBUG)
    messages = [code_message(), code_message(), code_message()]
    try:
        send(messages[0])
        tencent_server.reply("error", "FailedOperation.SignatureIncorrectOrUnapproved")
        send(messages[1], fail_silently=True)
        configure(TIMEOUT=(1, 0.3))
        tencent_server.reply("slow", delay=3)
        send(messages[2], fail_silently=True)
    finally:
        logging.getLogger("tencentcloud_sdk_common").setLevel(logging.NOTSET)

    assert [m.status.status for m in messages] == ["sent", "failed", "failed"]
    assert any(r.name.startswith("urllib3") for r in caplog.records), "DEBUG was not captured"
    out, err = capfd.readouterr()
    formatter = logging.Formatter("%(name)s %(message)s")
    texts = [out, err, caplog.text, *(formatter.format(r) for r in caplog.records)]
    texts += [str(m.status.error) for m in messages[1:]] + [repr(m) for m in messages]
    for secret in (TENCENT_SECRET_KEY, TENCENT_SECRET_ID, CODE):
        assert not [text for text in texts if secret in text]


def test_missing_sdk_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "django_smsverify.backends.tencent")
    for name in [n for n in sys.modules if n == "tencentcloud" or n.startswith("tencentcloud.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tencentcloud", None)
    with pytest.raises(MissingDependency) as excinfo:
        importlib.import_module("django_smsverify.backends.tencent")
    assert excinfo.value.extra == "tencent"
    assert 'pip install "django-smsverify[tencent]"' in str(excinfo.value)


class TestChecks:
    def errors(self):
        return [e for e in run_checks() if e.id.startswith("smsverify.E11")]

    def ids(self):
        return sorted(e.id for e in self.errors())

    def test_valid_settings_pass(self, configure):
        assert self.ids() == []

    def test_other_backend_is_not_checked(self, settings):
        settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
        settings.SMSVERIFY = {"TENCENT": {"SECRET_KEY": ""}}
        assert self.ids() == []

    def test_e111_secret_id(self, configure):
        configure(SECRET_ID="")
        assert self.ids() == ["smsverify.E111"]
        assert self.errors()[0].msg == "SMSVERIFY['TENCENT']['SECRET_ID'] is empty."

    def test_e112_secret_key(self, settings, tencent_server):
        block = config(tencent_server)
        del block["SECRET_KEY"]
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"TENCENT": block}
        assert self.ids() == ["smsverify.E112"]
        assert self.errors()[0].msg == "SMSVERIFY['TENCENT']['SECRET_KEY'] is missing."

    def test_e113_sdk_app_id(self, configure):
        configure(SDK_APP_ID=None)
        assert self.ids() == ["smsverify.E113"]
        assert "['SDK_APP_ID'] is missing" in self.errors()[0].msg

    def test_e114_sign_name(self, configure):
        configure(SIGN_NAME="  ")
        assert self.ids() == ["smsverify.E114"]
        assert "['SIGN_NAME'] is empty" in self.errors()[0].msg

    def test_e115_template_id(self, configure):
        configure(TEMPLATE_ID="")
        assert self.ids() == ["smsverify.E115"]
        assert "['TEMPLATE_ID'] is empty" in self.errors()[0].msg

    def test_e116_unknown_key(self, configure):
        configure(APP_KEY="x")
        assert self.ids() == ["smsverify.E116"]
        assert "Unknown key 'APP_KEY' in SMSVERIFY['TENCENT']" in self.errors()[0].msg

    def test_e116_block_that_is_not_a_dict(self, settings):
        settings.SMS_BACKEND = PATH
        settings.SMSVERIFY = {"TENCENT": "AKID"}
        assert self.ids() == ["smsverify.E116"]
        assert self.errors()[0].msg == "SMSVERIFY['TENCENT'] must be a dict; got str."

    def test_e117_bad_values(self, configure):
        configure(
            ENDPOINT="https://sms.tencentcloudapi.com",
            SCHEME="ftp",
            REGION="",
            TIMEOUT=(1, 2, 3),
            TEMPLATE_PARAMS="code",
        )
        assert self.ids() == ["smsverify.E117"] * 5
