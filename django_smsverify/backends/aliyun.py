"""Aliyun SMS (阿里云短信服务, Dysmsapi 2017-05-25) through the official SDK.

Needs ``alibabacloud-dysmsapi20170525`` (with ``alibabacloud-tea-openapi``):
``pip install "django-smsverify[aliyun]"``. Settings live in ``SMSVERIFY["ALIYUN"]``::

    SMS_BACKEND = "django_smsverify.backends.aliyun.SmsBackend"
    SMSVERIFY = {
        "ALIYUN": {
            "ACCESS_KEY_ID": "LTAI...",
            "ACCESS_KEY_SECRET": "...",
            "SIGN_NAME": "...",               # approved signature (签名名称)
            "TEMPLATE_ID": "SMS_123456789",   # TemplateCode, or {"register": ..., "default": ...}
            # optional:
            "TEMPLATE_PARAMS": {"code": "code"},   # template variable -> our value
            "NOTICE_TEMPLATE_ID": {"registered": "SMS_2001", "unregistered": "SMS_2002",
                                   "phone_changed": "SMS_2003"},
            "ENDPOINT": "dysmsapi.aliyuncs.com",   # or "http://127.0.0.1:8080" for a test fake
            "REGION_ID": "cn-hangzhou",
            "TIMEOUT": (5, 10),               # seconds: (connect, read), or one number
        }
    }

Aliyun templates name their variables (``您的验证码为${code}``), so
``TemplateParam`` is a JSON object: ``TEMPLATE_PARAMS`` maps each variable
name of the template to the value it gets, ``"code"`` or ``"minutes"``.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError

try:
    from alibabacloud_dysmsapi20170525 import models as dysms_models
    from alibabacloud_dysmsapi20170525.client import Client as DysmsClient
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    from alibabacloud_tea_openapi.models import Config
    from darabonba.runtime import RuntimeOptions
    from Tea.exceptions import TeaException, UnretryableException
except ImportError as exc:
    raise MissingDependency("aliyun", "The Aliyun SMS backend") from exc

from django_smsverify.backends.base import (
    ClientBackend,
    parse_timeout,
    request_may_have_arrived,
    required_setting,
)
from django_smsverify.backends.redact import install_debug_drop, install_url_redaction
from django_smsverify.backends.templates import (
    PARAM_NAMES,
    notice_kind,
    per_purpose,
    template_for,
)
from django_smsverify.message import SENT, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.backends.aliyun")

DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 10.0)
#: What a code template receives when ``TEMPLATE_PARAMS`` is not set.
DEFAULT_TEMPLATE_PARAMS: Mapping[str, str] = {"code": "code"}
#: ``SendSms`` takes at most this many numbers per request.
MAX_RECIPIENTS = 1000
SUCCESS = "OK"
SETTING = "SMSVERIFY['ALIYUN']"

#: Error codes with their own explanation: code -> (transient, explanation).
#: Transient means sending the same message later may succeed.
ERRORS: dict[str, tuple[bool, str]] = {
    # SendSms answers (HTTP 200, Code other than "OK").
    "isv.BUSINESS_LIMIT_CONTROL": (
        True,
        "rate limited: Aliyun's per-number frequency limit (业务限流)",
    ),
    "isv.DAY_LIMIT_CONTROL": (True, "rate limited: daily cap reached (触发日发送限额)"),
    "isv.MOBILE_NUMBER_ILLEGAL": (False, "the mobile number is not valid (非法手机号)"),
    "isv.MOBILE_COUNT_OVER_LIMIT": (False, "too many numbers in one request (max 1000)"),
    "isv.AMOUNT_NOT_ENOUGH": (
        False,
        "the account balance is too low; top it up in the Aliyun console (账户余额不足)",
    ),
    "isv.OUT_OF_SERVICE": (False, "the service is suspended: the account is in arrears (业务停机)"),
    "isv.ACCOUNT_NOT_EXISTS": (False, "the account does not exist"),
    "isv.ACCOUNT_ABNORMAL": (False, "the account is abnormal; contact Aliyun"),
    "isv.PRODUCT_UN_SUBSCRIPT": (False, "the account has not activated the SMS service"),
    "isv.SMS_TEMPLATE_ILLEGAL": (
        False,
        "the template (TEMPLATE_ID) does not exist or is not approved (模板不合法)",
    ),
    "isv.SMS_SIGNATURE_ILLEGAL": (
        False,
        "the signature (SIGN_NAME) does not exist or is not approved (签名不合法)",
    ),
    "isv.SMS_SIGN_ILLEGAL": (False, "SIGN_NAME and TEMPLATE_ID may not be used together"),
    "isv.TEMPLATE_MISSING_PARAMETERS": (
        False,
        "the template needs a variable TemplateParam does not give; check TEMPLATE_PARAMS",
    ),
    "isv.TEMPLATE_PARAMS_ILLEGAL": (
        False,
        "a template value is not allowed (e.g. a URL); check TEMPLATE_PARAMS",
    ),
    "isv.PARAM_LENGTH_LIMIT": (False, "a template value is too long"),
    "isv.INVALID_JSON_PARAM": (False, "TemplateParam is not valid JSON"),
    "isv.INVALID_PARAMETERS": (False, "Aliyun rejected the request parameters (参数异常)"),
    "isv.BLACK_KEY_CONTROL_LIMIT": (False, "the message contains blocked words"),
    "isv.DENY_IP_RANGE": (False, "the server's IP address is not allowed"),
    "isv.SYSTEM_ERROR": (True, "Aliyun system error"),
    "isp.SYSTEM_ERROR": (True, "Aliyun system error"),
    "isp.RAM_PERMISSION_DENY": (False, "this AccessKey may not call SendSms (RAM policy)"),
    # Common to every Aliyun API (HTTP 4xx/5xx).
    "SignatureDoesNotMatch": (False, "signature check failed: ACCESS_KEY_SECRET is wrong"),
    "InvalidAccessKeyId.NotFound": (False, "ACCESS_KEY_ID does not exist"),
    "InvalidAccessKeyId.Inactive": (False, "ACCESS_KEY_ID is disabled"),
    "InvalidAccessKeyId": (False, "ACCESS_KEY_ID is not valid"),
    "IncompleteSignature": (False, "the request signature is incomplete"),
    "InvalidTimeStamp.Expired": (
        False,
        "the request timestamp is more than 15 minutes off; check the server's clock",
    ),
    "SignatureNonceUsed": (True, "the request nonce was used already"),
    "Forbidden.RAM": (False, "this AccessKey may not call SendSms (RAM policy)"),
    "MissingParameter": (False, "the request lacks a required parameter"),
    "InvalidParameter": (False, "Aliyun rejected the request parameters"),
    "Throttling": (True, "rate limited: too many API calls"),
    "Throttling.User": (True, "rate limited: too many API calls from this account"),
    "Throttling.Api": (True, "rate limited: too many calls to SendSms"),
    "ServiceUnavailable": (True, "Aliyun is temporarily unavailable"),
    "InternalError": (True, "Aliyun internal error"),
}

#: Fallback for codes not in :data:`ERRORS`, by prefix -> transient.
FAMILIES: dict[str, bool] = {
    "Throttling": True,
    "ServiceUnavailable": True,
    "InternalError": True,
    "isp.SYSTEM_ERROR": True,
    "SignatureDoesNotMatch": False,
    "InvalidAccessKeyId": False,
    "isv.": False,
}

#: Codes by which Aliyun refuses to send to a number this often: the app then
#: keeps the resend cooldown (see :attr:`SmsSendError.rate_limited`).
RATE_LIMITED = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"})


def classify(code: str) -> tuple[bool, str]:
    """``(transient, explanation)`` for an Aliyun error code."""
    if code in ERRORS:
        return ERRORS[code]
    for prefix, transient in FAMILIES.items():
        if code.startswith(prefix):
            return transient, f"Aliyun error {code}"
    return False, f"Aliyun error {code}"


def aliyun_number(e164: str) -> str:
    """A number as ``SendSms``'s ``PhoneNumbers`` wants it.

    Mainland China numbers go without the country code (``13800138000``);
    others (Hong Kong, Macao, Taiwan and abroad) as country code and number,
    without ``+`` or ``00`` (``85291234567``), as Aliyun's API reference says.
    """
    if e164.startswith("+86"):
        return e164[3:]
    if e164.startswith("+"):
        return e164[1:]
    return e164


def timeout_ms(value: Any) -> tuple[int, int]:
    """``TIMEOUT`` (seconds: one number or (connect, read)) as the SDK wants it:
    milliseconds."""
    seconds = parse_timeout(value, DEFAULT_TIMEOUT)
    connect, read = seconds if isinstance(seconds, tuple) else (seconds, seconds)
    return max(1, round(connect * 1000)), max(1, round(read * 1000))


def parse_endpoint(value: Any) -> tuple[str, str]:
    """``(protocol, host[:port])`` of an ``ENDPOINT`` setting.

    A bare host uses HTTPS; a URL (``http://127.0.0.1:8080``) chooses its scheme,
    which is how tests point the backend at a local fake.
    """
    endpoint = str(value or DEFAULT_ENDPOINT).strip()
    if "://" not in endpoint:
        if not endpoint or "/" in endpoint:
            raise SmsConfigurationError(
                f"{SETTING}['ENDPOINT'] must be a host name like {DEFAULT_ENDPOINT!r}."
            )
        return "https", endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise SmsConfigurationError(
            f"{SETTING}['ENDPOINT'] must be a host name like {DEFAULT_ENDPOINT!r} "
            "or a URL like 'https://host[:port]' without a path."
        )
    return parts.scheme, parts.netloc


def template_params_problems(value: Any) -> list[str]:
    """Why a ``TEMPLATE_PARAMS`` setting is unusable (an empty list when it is fine).

    Either one mapping for every purpose (``{"code": "code"}``), or a dict of
    them by purpose (``{"login": {"code": "code"}, "default": {...}}``).
    """
    from django_smsverify.backends.templates import PURPOSE_KEYS

    if value is None:
        return []
    if not isinstance(value, Mapping):
        return ["must be a dict mapping template variable names to 'code' or 'minutes'"]
    if any(isinstance(item, Mapping) for item in value.values()):
        problems: list[str] = []
        for purpose, mapping in value.items():
            if purpose not in PURPOSE_KEYS:
                problems.append(f"has unknown purpose {purpose!r} (use {', '.join(PURPOSE_KEYS)})")
            elif not isinstance(mapping, Mapping):
                problems.append(f"must map {purpose!r} to a dict like {{'code': 'code'}}")
            else:
                problems += _mapping_problems(mapping, f" for {purpose!r}")
        return problems
    return _mapping_problems(value, "")


def _mapping_problems(mapping: Mapping[Any, Any], where: str) -> list[str]:
    problems = [
        f"has an empty template variable name{where}"
        for name in mapping
        if not isinstance(name, str) or not name.strip()
    ]
    problems += [
        f"maps {name!r}{where} to unknown value {item!r} (use {', '.join(PARAM_NAMES)})"
        for name, item in mapping.items()
        if item not in PARAM_NAMES
    ]
    if not mapping:
        problems.append(f"is an empty dict{where}")
    return problems


def template_param(config: Mapping[str, Any], message: SmsMessage, provider: str) -> str | None:
    """The ``TemplateParam`` JSON of ``message``, or None for a notice (no values)."""
    if notice_kind(message) is not None:
        return None
    setting = config.get("TEMPLATE_PARAMS")
    if isinstance(setting, Mapping) and any(isinstance(v, Mapping) for v in setting.values()):
        mapping = per_purpose(setting, message.purpose)
    else:
        mapping = setting
    if mapping is None:
        mapping = DEFAULT_TEMPLATE_PARAMS
    values = dict(zip(PARAM_NAMES, message.params, strict=False))
    missing = sorted({str(ours) for ours in mapping.values() if ours not in values})
    if missing:
        # A caller bug (a message built without the values), not a provider
        # failure; permanent, since sending it again cannot help.
        raise SmsSendError(
            f"the message has no {', '.join(missing)} value for its template "
            f"(it carries {len(message.params)} param(s))",
            provider=provider,
            transient=False,
        )
    return json.dumps(
        {str(name): values[ours] for name, ours in mapping.items()},
        ensure_ascii=False,
        separators=(",", ":"),
    )


# At DEBUG (with DEBUG=sdk in the environment) darabonba dumps each request:
# the URL with TemplateParam (the code) and the Authorization header with the
# signature. Its logger also has its own stderr handler, so a level set by the
# site does not help; a filter on the logger does.
install_debug_drop("darabonba-core")
# urllib3 logs the request line at DEBUG, and ours carries TemplateParam.
install_url_redaction()


class SmsBackend(ClientBackend):
    """Send template SMS with Aliyun's ``SendSms`` (Dysmsapi 2017-05-25).

    One request per message, with every number of the message; Aliyun
    accepts or refuses the request as a whole. Nothing is retried here: the
    SDK's own retries are off, since a request that timed out may have been
    delivered (see :attr:`SmsSendError.maybe_sent`).
    """

    provider_name = "aliyun"

    #: Every key ``SMSVERIFY["ALIYUN"]`` accepts, with its default (``None``: required).
    default_settings: Mapping[str, Any] = {
        "ACCESS_KEY_ID": None,
        "ACCESS_KEY_SECRET": None,
        "SIGN_NAME": None,
        "TEMPLATE_ID": None,
        "TEMPLATE_PARAMS": None,
        "NOTICE_TEMPLATE_ID": None,
        "ENDPOINT": DEFAULT_ENDPOINT,
        "REGION_ID": DEFAULT_REGION,
        "TIMEOUT": DEFAULT_TIMEOUT,
    }

    # No close_client(): the SDK keeps its HTTP sessions in a process-wide
    # pool shared by every client of an endpoint; there is nothing of ours to close.
    settings_block = "ALIYUN"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        """Send one template SMS and return its status, or raise :class:`SmsSendError`."""
        sign_name = self._credential("SIGN_NAME")
        template = template_for(self.config, message, SETTING)
        param = template_param(self.config, message, self.provider_name)
        if len(message.to) > MAX_RECIPIENTS:
            raise SmsSendError(
                f"Aliyun takes at most {MAX_RECIPIENTS} numbers per message; "
                f"this one has {len(message.to)}",
                provider=self.provider_name,
                provider_code="isv.MOBILE_COUNT_OVER_LIMIT",
            )
        request = dysms_models.SendSmsRequest(
            phone_numbers=",".join(aliyun_number(number) for number in message.to),
            sign_name=sign_name,
            template_code=template,
            template_param=param,
        )
        with self.client_for_send() as client:
            body = self._call(client, request)
        code = str(body.get("Code") or "")
        request_id = body.get("RequestId")
        if code != SUCCESS:
            transient, explanation = classify(code) if code else (True, "")
            if not code:
                explanation = "Aliyun's reply has no Code; the request probably failed"
            raise SmsSendError(
                explanation,
                provider=self.provider_name,
                provider_code=code or None,
                transient=transient,
                response={"RequestId": request_id, "Code": code, "Message": body.get("Message")},
                rate_limited=code in RATE_LIMITED,
            )
        biz_id = body.get("BizId")
        return SmsStatus(
            status=SENT,
            provider=self.provider_name,
            # BizId is what QuerySendDetails and delivery receipts know the send by.
            message_id=str(biz_id or request_id or "") or None,
            provider_code=SUCCESS,
            recipients=dict.fromkeys(message.to, SENT),
        )

    def _call(self, client: Any, request: Any) -> dict[str, Any]:
        try:
            # The SDK stamps requests with datetime.utcnow(), which warns on
            # Python 3.12+; where warnings are errors that would fail the send.
            # Limited to the SDK's modules, since catch_warnings() swaps a
            # process-wide list that another thread may keep.
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore",
                    category=DeprecationWarning,
                    module=r"(alibabacloud_|darabonba|Tea)",
                )
                response = client.send_sms_with_options(request, RuntimeOptions())
        except AlibabaCloudException as exc:
            # An error reply with a code (HTTP 4xx/5xx with a JSON body).
            code = str(exc.code or "")
            if code in ("", "None"):
                code = ""
            transient, explanation = classify(code) if code else (True, "")
            if not code:
                explanation = f"Aliyun answered HTTP {exc.status_code} without an error code"
            # "from None": the SDK's message repeats the reply body.
            raise SmsSendError(
                explanation,
                provider=self.provider_name,
                provider_code=code or None,
                transient=transient,
                response={"RequestId": exc.request_id, "Code": code or None},
                rate_limited=code in RATE_LIMITED,
            ) from None
        except UnretryableException as exc:
            raise self._transport_error(exc.inner_exception) from None
        except TeaException as exc:
            raise SmsSendError(
                f"Aliyun SDK error {type(exc).__name__}",
                provider=self.provider_name,
                provider_code=str(exc.code or "") or None,
                transient=True,
                maybe_sent=True,
            ) from None
        body = response.body.to_map() if response is not None and response.body else {}
        return body

    def _transport_error(self, inner: BaseException | None) -> SmsSendError:
        """The error for a failure without an Aliyun error code.

        The SDK wraps a ``requests`` failure in ``RetryError`` carrying only its
        text, and an unreadable reply (a proxy's HTML error page, a body cut
        short) in the JSON parser's error.
        """
        name = type(inner).__name__ if inner is not None else "unknown"
        text = str(getattr(inner, "message", "") or inner or "")
        if name == "RetryError":
            maybe_sent = request_may_have_arrived(text)
            if not maybe_sent:
                detail = "could not reach Aliyun (connection failed)"
            elif "timed out" in text.lower():
                detail = "Aliyun did not answer in time"
            else:
                detail = "the connection to Aliyun broke before it answered"
            return SmsSendError(
                detail, provider=self.provider_name, transient=True, maybe_sent=maybe_sent
            )
        # Anything else came after the request went out (a proxy's error page,
        # a body cut short): the SMS may be on its way.
        return SmsSendError(
            f"Aliyun's reply could not be read as the JSON the API documents ({name})",
            provider=self.provider_name,
            transient=True,
            maybe_sent=True,
        )

    def build_client(self) -> Any:
        access_key_id = self._credential("ACCESS_KEY_ID")
        access_key_secret = self._credential("ACCESS_KEY_SECRET")
        protocol, endpoint = parse_endpoint(self.config.get("ENDPOINT"))
        connect_ms, read_ms = timeout_ms(self.config.get("TIMEOUT"))
        region = str(self.config.get("REGION_ID") or DEFAULT_REGION)
        config = Config(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            endpoint=endpoint,
            protocol=protocol,
            region_id=region,
            connect_timeout=connect_ms,
            read_timeout=read_ms,
        )
        return DysmsClient(config)

    def _credential(self, key: str) -> str:
        return required_setting(self.config, key, SETTING)
