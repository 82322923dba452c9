"""Tencent Cloud SMS (腾讯云短信) through ``tencentcloud-sdk-python-sms``, API 2021-01-11.

Settings live in ``SMSVERIFY["TENCENT"]``::

    SMS_BACKEND = "django_smsverify.backends.tencent.SmsBackend"
    SMSVERIFY = {
        "TENCENT": {
            "SECRET_ID": "AKID...",
            "SECRET_KEY": "...",
            "SDK_APP_ID": "1400000000",
            "SIGN_NAME": "...",               # approved signature (签名内容)
            "TEMPLATE_ID": "1234567",         # or {"register": "...", "default": "..."}
            # optional:
            "TEMPLATE_PARAMS": ["code", "minutes"],
            "REGION": "ap-guangzhou",
            "ENDPOINT": "sms.tencentcloudapi.com",   # host[:port], no scheme
            "SCHEME": "https",
            "TIMEOUT": (5, 10),
            "PROXY": None,                    # e.g. "http://proxy.internal:3128"
        }
    }

This is the maintained SDK (the old ``qcloudsms_py`` breaks on Python 3.9+).
The module works around four of its habits; each spot says why.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError

try:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.sms.v20210111 import models, sms_client
except ImportError as exc:
    raise MissingDependency("tencent", "The Tencent Cloud SMS backend") from exc

from django_smsverify.backends.base import (
    ClientBackend,
    is_loopback,
    parse_timeout,
    request_may_have_arrived,
    required_setting,
)
from django_smsverify.backends.redact import install_debug_drop, install_url_redaction
from django_smsverify.backends.templates import params_for, template_for
from django_smsverify.message import FAILED, SENT, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.backends.tencent")

DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
DEFAULT_REGION = "ap-guangzhou"
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 10.0)
MAX_RECIPIENTS = 200
SUCCESS = "Ok"
SETTING = "SMSVERIFY['TENCENT']"

#: Error codes with their own explanation: code -> (transient, explanation).
ERRORS: dict[str, tuple[bool, str]] = {
    # Raised by the SDK itself.
    "ClientNetworkError": (True, "could not reach Tencent Cloud (connection failed or timed out)"),
    "ServerNetworkError": (True, "Tencent Cloud answered with an HTTP error status"),
    "JSONDecodeError": (True, "Tencent Cloud's reply is not valid JSON"),
    # Common to every Tencent Cloud API.
    "AuthFailure.SecretIdNotFound": (False, "SECRET_ID does not exist or is disabled"),
    "AuthFailure.SignatureFailure": (False, "signature check failed: SECRET_KEY is wrong"),
    "AuthFailure.SignatureExpire": (
        False,
        "the request timestamp is more than 5 minutes off; check the server's clock",
    ),
    "AuthFailure.UnauthorizedOperation": (False, "this key may not call SendSms (CAM policy)"),
    "RequestLimitExceeded": (True, "rate limited: too many API calls per second"),
    "InternalError": (True, "Tencent Cloud internal error"),
    # SendSms.
    "LimitExceeded.PhoneNumberDailyLimit": (True, "rate limited: daily cap for this number"),
    "LimitExceeded.PhoneNumberOneHourLimit": (True, "rate limited: hourly cap for this number"),
    "LimitExceeded.PhoneNumberThirtySecondLimit": (
        True,
        "rate limited: a message was sent to this number less than 30 seconds ago",
    ),
    "LimitExceeded.PhoneNumberSameContentDailyLimit": (
        True,
        "rate limited: daily cap of identical messages for this number",
    ),
    "LimitExceeded.DeliveryFrequencyLimit": (True, "rate limited: sending too often"),
    "LimitExceeded.AppDailyLimit": (True, "rate limited: the application's daily cap"),
    "LimitExceeded.PhoneNumberCountLimit": (False, "too many numbers in one request (max 200)"),
    "LimitExceeded.AppCountryOrRegionInBlacklist": (
        False,
        "the application may not send to this country or region",
    ),
    "FailedOperation.SignatureIncorrectOrUnapproved": (
        False,
        "SIGN_NAME is wrong or not approved",
    ),
    "FailedOperation.MissingSignature": (False, "SIGN_NAME is missing"),
    "FailedOperation.TemplateIncorrectOrUnapproved": (
        False,
        "TEMPLATE_ID is wrong or not approved",
    ),
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": (
        False,
        "the template takes a different number of values; check TEMPLATE_PARAMS",
    ),
    "FailedOperation.PhoneNumberInBlacklist": (False, "the number is blacklisted"),
    "FailedOperation.PhoneNumberParseFail": (False, "Tencent Cloud could not parse the number"),
    "FailedOperation.ContainSensitiveWord": (False, "the message contains blocked words"),
    "FailedOperation.InsufficientBalanceInSmsPackage": (
        False,
        "the SMS package is used up; buy more in the Tencent Cloud console",
    ),
    "InternalError.RequestTimeException": (
        False,
        "the request time is off; check the server's clock",
    ),
    "InternalError.SigVerificationFail": (False, "signature check failed"),
    "InvalidParameterValue.IncorrectPhoneNumber": (False, "the mobile number is not valid"),
    "InvalidParameterValue.SdkAppIdNotExist": (False, "SDK_APP_ID does not exist"),
    "InvalidParameterValue.TemplateParameterLengthLimit": (
        False,
        "a template value is too long",
    ),
    "InvalidParameterValue.TemplateParameterFormatError": (
        False,
        "a template value does not match the variable's type in the template",
    ),
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": (
        False,
        "template values may not contain URLs",
    ),
    "MissingParameter.EmptyPhoneNumberSet": (False, "the request has no mobile number"),
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": (
        False,
        "SDK_APP_ID does not belong to this account",
    ),
    "UnauthorizedOperation.RequestIpNotInWhitelist": (
        False,
        "the server's IP address is not in the application's allow list",
    ),
    "UnauthorizedOperation.ServiceSuspendDueToArrears": (
        False,
        "the service is suspended because the account is in arrears",
    ),
    "UnauthorizedOperation.SdkAppIdIsDisabled": (False, "the application is disabled"),
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": (
        False,
        "one request may not mix mainland China and international numbers",
    ),
}

#: Fallback for codes not in :data:`ERRORS`, by code family: prefix -> transient.
#: Limits lift with time and internal errors pass; everything else is a setup
#: or input problem that a retry cannot fix.
FAMILIES: dict[str, bool] = {
    "LimitExceeded": True,
    "InternalError": True,
    "RequestLimitExceeded": True,
    "ResourceUnavailable": True,
    "AuthFailure": False,
    "FailedOperation": False,
    "InvalidParameter": False,
    "InvalidParameterValue": False,
    "MissingParameter": False,
    "UnauthorizedOperation": False,
    "UnsupportedOperation": False,
}


#: ``LimitExceeded`` codes that are not about sending to a number too often.
NOT_RATE_LIMITS = frozenset(
    {"LimitExceeded.PhoneNumberCountLimit", "LimitExceeded.AppCountryOrRegionInBlacklist"}
)


def is_rate_limit(code: str) -> bool:
    """Whether ``code`` refuses a send because of how often this number (or
    the application) was sent to: the app then keeps the resend cooldown."""
    return code.startswith("LimitExceeded.") and code not in NOT_RATE_LIMITS


def classify(code: str) -> tuple[bool, str]:
    """``(transient, explanation)`` for a Tencent Cloud error code."""
    if code in ERRORS:
        return ERRORS[code]
    family = code.split(".", 1)[0]
    transient = FAMILIES.get(family, False)
    return transient, f"Tencent Cloud error {code}"


# At DEBUG this SDK logger records every request in full, SecretId and
# template values (the verification code) included, and its records reach the
# root logger: a site that logs at DEBUG would write them out.
install_debug_drop("tencentcloud_sdk_common")
# Same filter as every backend's on urllib3's request lines (no credential
# goes in Tencent's URLs today, but a proxy or a future SDK may put one there).
install_url_redaction()


class SmsBackend(ClientBackend):
    """Send template SMS with Tencent Cloud's ``SendSms`` (API 2021-01-11).

    Each number's own status is checked: Tencent Cloud answers HTTP 200 and
    reports refusals per number. A message counts as sent when at least one of
    its numbers was accepted; ``status.recipients`` tells which. Nothing is
    retried here (see :attr:`SmsSendError.transient`).
    """

    provider_name = "tencent"

    #: Every key ``SMSVERIFY["TENCENT"]`` accepts, with its default (``None``: required).
    default_settings: Mapping[str, Any] = {
        "SECRET_ID": None,
        "SECRET_KEY": None,
        "SDK_APP_ID": None,
        "SIGN_NAME": None,
        "TEMPLATE_ID": None,
        "TEMPLATE_PARAMS": None,
        "NOTICE_TEMPLATE_ID": None,
        "REGION": DEFAULT_REGION,
        "ENDPOINT": DEFAULT_ENDPOINT,
        "SCHEME": "https",
        "TIMEOUT": DEFAULT_TIMEOUT,
        "PROXY": None,
    }

    settings_block = "TENCENT"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        """Send one template SMS and return its status, or raise :class:`SmsSendError`."""
        sdk_app_id = self._credential("SDK_APP_ID")
        template = template_for(self.config, message, SETTING)
        params = params_for(self.config, message, self.provider_name)
        if len(message.to) > MAX_RECIPIENTS:
            raise SmsSendError(
                f"Tencent Cloud takes at most {MAX_RECIPIENTS} numbers per message; "
                f"this one has {len(message.to)}",
                provider=self.provider_name,
                provider_code="LimitExceeded.PhoneNumberCountLimit",
            )
        request = models.SendSmsRequest()
        request.SmsSdkAppId = sdk_app_id
        request.SignName = str(self.config.get("SIGN_NAME") or "") or None
        request.TemplateId = template
        request.TemplateParamSet = params
        request.PhoneNumberSet = list(message.to)

        with self.client_for_send() as client:
            response = self._call(client, request)
        return self._status(message, response)

    def _call(self, client: Any, request: Any) -> Any:
        try:
            # The SDK's signing code calls datetime.utcfromtimestamp(), which
            # warns on Python 3.12+; where warnings are errors (-W error,
            # pytest's "error" filter) the SDK turns that into a failed send.
            # The filter is limited to the SDK's modules because
            # catch_warnings() swaps a process-wide list: a thread racing this
            # one could keep our filter, and then it must hide nothing else.
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", category=DeprecationWarning, module=r"tencentcloud(\.|$)"
                )
                return client.SendSms(request)
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "")
            transient, explanation = classify(code)
            # The SDK reports every transport failure as ClientNetworkError
            # with the requests error's text: read it to tell "never sent"
            # from "sent, no answer".
            maybe_sent = code == "ClientNetworkError" and request_may_have_arrived(
                str(exc.get_message() or "")
            )
            # "from None": the SDK's message may carry the raw reply body.
            raise SmsSendError(
                explanation,
                provider=self.provider_name,
                provider_code=code or None,
                transient=transient,
                response={"RequestId": exc.get_request_id()},
                maybe_sent=maybe_sent,
                rate_limited=is_rate_limit(code),
            ) from None

    def _status(self, message: SmsMessage, response: Any) -> SmsStatus:
        statuses = list(response.SendStatusSet or [])
        if not statuses:
            # The SDK only raises on an error reply whose Content-Type is
            # exactly "application/json"; with "application/json;
            # charset=utf-8" (a proxy can rewrite it) the error comes back as
            # an empty response. Never count that as sent.
            raise SmsSendError(
                "Tencent Cloud's reply has no per-number status (SendStatusSet is empty); "
                "the request probably failed",
                provider=self.provider_name,
                transient=True,
                response={"RequestId": response.RequestId},
            )
        by_number = {status.PhoneNumber: status for status in statuses}
        recipients: dict[str, str] = {}
        refused: list[Any] = []
        accepted: list[Any] = []
        for index, number in enumerate(message.to):
            status = by_number.get(number)
            if status is None and len(statuses) == len(message.to):
                # Matched by position when Tencent spells the number differently.
                status = statuses[index]
            if status is not None and status.Code == SUCCESS:
                recipients[number] = SENT
                accepted.append(status)
            else:
                recipients[number] = FAILED
                refused.append(status)

        codes = [status.Code if status is not None else None for status in refused]
        if not accepted:
            code = codes[0] or None
            transient, explanation = classify(code or "")
            if code is None:
                transient, explanation = True, "Tencent Cloud's reply lacks this number's status"
            raise SmsSendError(
                explanation,
                provider=self.provider_name,
                provider_code=code,
                transient=transient and all(c is None or classify(c)[0] for c in codes),
                response={"RequestId": response.RequestId, "codes": codes},
                rate_limited=bool(codes) and all(is_rate_limit(c or "") for c in codes),
            )
        if refused:
            logger.warning(
                "Tencent Cloud refused %d of %d numbers: %s",
                len(refused),
                len(message.to),
                ", ".join(sorted({c or "-" for c in codes})),
            )
        message_id = accepted[0].SerialNo if len(message.to) == 1 else response.RequestId
        return SmsStatus(
            status=SENT,
            provider=self.provider_name,
            message_id=message_id or None,
            provider_code=codes[0] if refused else SUCCESS,
            recipients=recipients,
        )

    def close_client(self, client: Any) -> None:
        _close_session(client)

    def build_client(self) -> Any:
        secret_id = self._credential("SECRET_ID")
        secret_key = self._credential("SECRET_KEY")
        endpoint = str(self.config.get("ENDPOINT") or DEFAULT_ENDPOINT)
        if "://" in endpoint:
            raise SmsConfigurationError(
                f"{SETTING}['ENDPOINT'] must be host[:port] without a scheme; "
                "set SCHEME for http or https."
            )
        scheme = str(self.config.get("SCHEME") or "https").lower()
        if scheme not in ("http", "https"):
            raise SmsConfigurationError(f"{SETTING}['SCHEME'] must be 'http' or 'https'.")
        proxy = self.config.get("PROXY") or None
        profile = HttpProfile(
            protocol=scheme,
            endpoint=endpoint,
            reqTimeout=parse_timeout(self.config.get("TIMEOUT"), DEFAULT_TIMEOUT),
            proxy=proxy,
        )
        try:
            cred = credential.Credential(secret_id, secret_key)
        except TencentCloudSDKException:
            raise SmsConfigurationError(
                f"{SETTING}['SECRET_ID'] and ['SECRET_KEY'] must not contain spaces."
            ) from None
        region = str(self.config.get("REGION") or DEFAULT_REGION)
        client = sms_client.SmsClient(cred, region, ClientProfile(httpProfile=profile))
        if proxy is None and is_loopback(endpoint):
            # The SDK reads HTTP(S)_PROXY when the client is built and its
            # NO_PROXY test is a substring match on "host:port", so a proxy set
            # in the environment would receive requests meant for a local
            # endpoint (a test or a sidecar). Loopback never goes via a proxy.
            connection = getattr(getattr(client, "request", None), "conn", None)
            if connection is not None:
                connection.proxy = None
                session = getattr(connection, "_session", None)
                if session is not None:
                    session.trust_env = False
        return client

    def _credential(self, key: str) -> str:
        return required_setting(self.config, key, SETTING)


def _close_session(client: Any) -> None:
    # The SDK has no close(); its requests session sits on client.request.conn.
    session = getattr(getattr(getattr(client, "request", None), "conn", None), "_session", None)
    if session is not None:
        session.close()
