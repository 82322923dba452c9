"""Ronglian (容联云, cloopen.com) template SMS, REST API version 2013-12-26.

Settings live in ``SMSVERIFY["RONGLIAN"]``::

    SMS_BACKEND = "django_smsverify.backends.ronglian.SmsBackend"
    SMSVERIFY = {
        "RONGLIAN": {
            "ACCOUNT_SID": "8a216da8...",     # 主账号 ACCOUNT SID
            "AUTH_TOKEN": "...",              # 账户授权令牌 AUTH TOKEN
            "APP_ID": "8a216da8...",          # 应用 APPID
            "TEMPLATE_ID": "1",               # or {"register": "...", "default": "..."}
            # optional:
            "TEMPLATE_PARAMS": ["code", "minutes"],
            "NOTICE_TEMPLATE_ID": {"registered": "2", "unregistered": "3", "phone_changed": "4"},
            "BASE_URL": "https://app.cloopen.com:8883",
            "TIMEOUT": (5, 10),               # seconds: (connect, read), or one number
        }
    }

Why this module speaks the REST API itself instead of calling the official
``ronglian_sms_sdk`` (1.0, its only release):

- it ``print()``s the auth token, the signed URL and the request body (which
  holds the verification code) to stdout on every call;
- it catches every exception with a bare ``except``, prints a traceback and
  answers a made-up ``172001``, so a timeout, a DNS failure and a bug look
  alike;
- it signs with the host's local time, while Ronglian checks the timestamp
  against Beijing time, so a server running in UTC is eight hours off;
- it opens a new connection per call (no session) with fixed timeouts.

The protocol is small (one signed POST), so we build the same request
ourselves: ``tests/test_backend_ronglian.py`` sends through the real SDK and
through this backend to one fake server and checks that path, headers, body
and signature match.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django_smsverify.exceptions import MissingDependency, SmsSendError

try:
    import requests
except ImportError as exc:  # pragma: no cover - exercised by a test that hides requests
    raise MissingDependency("ronglian", "The Ronglian SMS backend") from exc

from django_smsverify.backends.base import (
    BaseSmsBackend,
    parse_timeout,
    request_may_have_arrived,
    required_setting,
)
from django_smsverify.backends.redact import install_url_redaction
from django_smsverify.backends.templates import params_for, template_for
from django_smsverify.conf import app_settings
from django_smsverify.message import SENT, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.backends.ronglian")

# urllib3 logs the request line at DEBUG, and ours carries the sig.
install_url_redaction()

PRODUCTION_URL = "https://app.cloopen.com:8883"
SANDBOX_URL = "https://sandboxapp.cloopen.com:8883"
SEND_PATH = "/2013-12-26/Accounts/{account_sid}/SMS/TemplateSMS"

#: ``statusCode`` of an accepted send.
SUCCESS = "000000"

#: Ronglian takes at most this many numbers per request (error 160048 beyond).
MAX_RECIPIENTS = 200

SETTING = "SMSVERIFY['RONGLIAN']"

#: Known ``statusCode`` values: code -> (transient, developer-facing explanation).
#: Transient means sending the same message later may succeed. Codes not listed
#: here are reported as permanent, with Ronglian's own ``statusMsg``.
ERRORS: dict[str, tuple[bool, str]] = {
    # Authentication and account.
    "111101": (False, "request rejected: the Authorization header is missing"),
    "111102": (False, "request rejected: the Authorization header is malformed"),
    "111103": (False, "request rejected: the Authorization header could not be decoded"),
    "111104": (False, "request rejected: the Authorization header lacks the account SID"),
    "111105": (False, "request rejected: the Authorization header lacks the timestamp"),
    "111106": (
        False,
        "the request timestamp is too far from Beijing time; check the server's clock",
    ),
    "111107": (False, "request rejected: the sig parameter is missing"),
    "111108": (False, "request rejected: the sig parameter is malformed"),
    "111109": (False, "signature check failed: ACCOUNT_SID or AUTH_TOKEN is wrong"),
    "111113": (False, "the request timestamp has a bad format"),
    "111141": (False, "the account (ACCOUNT_SID) does not exist"),
    "111142": (False, "the account balance is too low; top it up in the Ronglian console"),
    "111181": (False, "the application (APP_ID) does not exist"),
    # Template and application.
    "112306": (False, "the request has no mobile number"),
    "112307": (False, "the request has no template id"),
    "112308": (False, "the request has no template data"),
    "112310": (
        False,
        "the application is not live yet, so it may only send to the test numbers "
        "registered in the Ronglian console",
    ),
    "112311": (False, "the template (TEMPLATE_ID) does not exist"),
    "113302": (
        False,
        "the test template may only be sent to the test numbers registered in the Ronglian console",
    ),
    # Sending.
    "160031": (False, "Ronglian could not parse the request parameters"),
    "160032": (False, "the template is invalid or not approved"),
    "160033": (False, "the message contains blocked (sensitive) words"),
    "160034": (False, "the number is blacklisted"),
    "160038": (True, "rate limited: verification codes were sent to this number too often"),
    "160039": (True, "rate limited: daily cap for this template and number reached"),
    "160040": (True, "rate limited: daily cap of verification codes for this number reached"),
    "160041": (True, "rate limited: daily cap of notifications for this number reached"),
    "160042": (False, "the mobile number has a bad format"),
    "160043": (False, "the template does not belong to this application (APP_ID)"),
    "160048": (False, "too many numbers in one request (at most 200)"),
    "160049": (False, "the message contains blocked (sensitive) words"),
    "160050": (True, "Ronglian failed to send the message"),
    "160053": (False, "the server's IP address is not allowed (IP authentication failed)"),
    "160054": (False, "duplicate request"),
    "172001": (True, "network error between Ronglian and the carrier"),
}

#: Codes by which Ronglian refuses to send to a number this often: the app keeps
#: the resend cooldown (see :attr:`SmsSendError.rate_limited`).
RATE_LIMITED = frozenset({"160038", "160039", "160040", "160041"})

# China has had no daylight saving time since 1991, so a fixed UTC+8 is an
# exact fallback where the tz database is missing (Windows without tzdata).
try:
    BEIJING: tzinfo = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:  # pragma: no cover - depends on the host
    BEIJING = timezone(timedelta(hours=8), "CST")

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 10.0)


def beijing_timestamp() -> str:
    """Now in Beijing time as ``yyyyMMddHHmmss``, whatever the server's time zone.

    Ronglian checks the signed timestamp against its own (Beijing) clock.
    """
    return datetime.now(BEIJING).strftime("%Y%m%d%H%M%S")


def sign(account_sid: str, auth_token: str, timestamp: str) -> tuple[str, str]:
    """The ``sig`` query parameter and the ``Authorization`` header for ``timestamp``."""
    sig = hashlib.md5(  # noqa: S324 - MD5 is the algorithm Ronglian's API prescribes
        f"{account_sid}{auth_token}{timestamp}".encode()
    ).hexdigest()
    authorization = base64.b64encode(f"{account_sid}:{timestamp}".encode()).decode("ascii")
    return sig.upper(), authorization


def ronglian_number(e164: str) -> str:
    """A number as Ronglian's ``to`` field wants it.

    Mainland China numbers go without the country code (``13800138000``);
    others with the ``00`` international prefix (``0085291234567``).
    """
    if e164.startswith("+86"):
        return e164[3:]
    if e164.startswith("+"):
        return "00" + e164[1:]
    return e164


class SmsBackend(BaseSmsBackend):
    """Send template SMS through Ronglian's REST API with a ``requests`` session.

    Nothing is retried here: after a timeout the message may already be on
    its way, and the caller (or its task queue) decides whether to try again
    based on :attr:`SmsSendError.transient <django_smsverify.exceptions.SmsSendError>`.
    """

    provider_name = "ronglian"

    #: Every key ``SMSVERIFY["RONGLIAN"]`` accepts, with its default (``None``: required).
    default_settings: Mapping[str, Any] = {
        "ACCOUNT_SID": None,
        "AUTH_TOKEN": None,
        "APP_ID": None,
        "TEMPLATE_ID": None,
        "TEMPLATE_PARAMS": None,
        "NOTICE_TEMPLATE_ID": None,
        "BASE_URL": PRODUCTION_URL,
        "TIMEOUT": DEFAULT_TIMEOUT,
    }

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.config: dict[str, Any] = {**self.default_settings, **app_settings.RONGLIAN}
        self.session: requests.Session | None = None

    def open(self) -> bool:
        """Start a ``requests`` session (kept across the messages of one batch)."""
        if self.session is not None:
            return False
        self.session = requests.Session()
        return True

    def close(self) -> None:
        """Close the session opened by :meth:`open`."""
        session, self.session = self.session, None
        if session is not None:
            session.close()

    def send_message(self, message: SmsMessage) -> SmsStatus:
        """POST one template SMS and return its status, or raise :class:`SmsSendError`."""
        account_sid = self._credential("ACCOUNT_SID")
        auth_token = self._credential("AUTH_TOKEN")
        app_id = self._credential("APP_ID")
        template = template_for(self.config, message, SETTING)
        datas = params_for(self.config, message, self.provider_name)
        if len(message.to) > MAX_RECIPIENTS:
            raise SmsSendError(
                f"Ronglian takes at most {MAX_RECIPIENTS} numbers per message; "
                f"this one has {len(message.to)}",
                provider=self.provider_name,
                provider_code="160048",
            )

        timestamp = beijing_timestamp()
        sig, authorization = sign(account_sid, auth_token, timestamp)
        base_url = str(self.config.get("BASE_URL") or PRODUCTION_URL).rstrip("/")
        url = f"{base_url}{SEND_PATH.format(account_sid=account_sid)}?sig={sig}"
        headers = {
            "Content-Type": "application/json;charset=utf-8",
            "Accept": "application/json",
            "Accept-Charset": "UTF-8",
            "Authorization": authorization,
        }
        body = json.dumps(
            {
                "to": ",".join(ronglian_number(number) for number in message.to),
                "appId": app_id,
                "templateId": template,
                "datas": datas,
            }
        )
        data = self._post(url, headers, body.encode("utf-8"))
        status_code = str(data["statusCode"])
        if status_code != SUCCESS:
            raise self._error(status_code, data)
        details = data.get("templateSMS")
        message_id = details.get("smsMessageSid") if isinstance(details, dict) else None
        return SmsStatus(
            status=SENT,
            provider=self.provider_name,
            message_id=str(message_id) if message_id else None,
            provider_code=SUCCESS,
            recipients=dict.fromkeys(message.to, SENT),
        )

    def _post(self, url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        session = self.session
        own_session = session is None
        if session is None:
            session = requests.Session()
        timeout = parse_timeout(self.config.get("TIMEOUT"), DEFAULT_TIMEOUT)
        try:
            response = session.post(url, data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            # "from None": the requests exception's text holds the signed URL.
            if isinstance(exc, requests.Timeout):
                detail = (
                    f"Ronglian did not answer in time ({type(exc).__name__}, timeout {timeout}s)"
                )
            else:
                detail = f"could not reach Ronglian ({type(exc).__name__})"
            raise SmsSendError(
                detail,
                provider=self.provider_name,
                transient=True,
                maybe_sent=request_may_have_arrived(exc),
            ) from None
        finally:
            if own_session:
                session.close()

        if response.status_code != 200:
            # 5xx and 429 are the server's trouble and may pass; other statuses
            # (404 from a wrong BASE_URL, 403...) will not fix themselves.
            transient = response.status_code >= 500 or response.status_code == 429
            raise SmsSendError(
                f"Ronglian answered HTTP {response.status_code}",
                provider=self.provider_name,
                provider_code=str(response.status_code),
                transient=transient,
                # A gateway that gave up waiting had already passed the request on.
                maybe_sent=response.status_code == 504,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or "statusCode" not in data:
            # An answer we cannot read (a proxy's error page, a cut body): the
            # message may or may not have gone out, and trying later is sane.
            raise SmsSendError(
                "Ronglian's reply is not the JSON object the API documents",
                provider=self.provider_name,
                transient=True,
                maybe_sent=True,
            )
        return data

    def _error(self, status_code: str, data: dict[str, Any]) -> SmsSendError:
        transient, explanation = ERRORS.get(status_code, (False, ""))
        if not explanation:
            explanation = f"unknown Ronglian error: {data.get('statusMsg') or 'no message'}"
        return SmsSendError(
            explanation,
            provider=self.provider_name,
            provider_code=status_code,
            transient=transient,
            response=data,
            rate_limited=status_code in RATE_LIMITED,
        )

    def _credential(self, key: str) -> str:
        return required_setting(self.config, key, SETTING)
