"""Twilio Programmable Messaging through the official ``twilio`` SDK (9.x).

Settings live in ``SMSVERIFY["TWILIO"]``::

    SMS_BACKEND = "django_smsverify.backends.twilio.SmsBackend"
    SMSVERIFY = {
        "TWILIO": {
            "ACCOUNT_SID": "AC...",
            "AUTH_TOKEN": "...",
            "FROM": "+15005550006",            # or:
            # "MESSAGING_SERVICE_SID": "MG...",
            # optional:
            "TIMEOUT": (5, 10),               # seconds: (connect, read), or one number
            "BASE_URL": None,                 # tests only, e.g. "http://127.0.0.1:8080"
        }
    }

Twilio sends free text, so there are no templates: each message goes out as
its plain ``SmsMessage.body`` (the app's translated code and notice texts),
one Messages API call per number.

At send time Twilio answers only request errors (HTTP 4xx with a 2xxxx code,
or 5xx); delivery errors (30xxx: unreachable handset, carrier filtering...)
happen later and reach the site through status callbacks only, so a send
that Twilio accepted counts as sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django_smsverify.exceptions import MissingDependency, SmsConfigurationError, SmsSendError

try:
    import requests
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.http_client import TwilioHttpClient
    from twilio.http.response import Response
    from twilio.rest import Client
except ImportError as exc:
    raise MissingDependency("twilio", "The Twilio SMS backend") from exc

try:  # RFC 9457 error replies (newer Twilio APIs); absent from early 9.x releases.
    from twilio.base.exceptions import TwilioServiceException
except ImportError:  # pragma: no cover - depends on the installed SDK version
    TwilioServiceException = TwilioRestException  # type: ignore[misc,assignment]

from django_smsverify.backends.base import (
    ClientBackend,
    is_loopback,
    parse_timeout,
    request_may_have_arrived,
    required_setting,
)
from django_smsverify.backends.redact import install_url_redaction
from django_smsverify.message import FAILED, SENT, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.backends.twilio")

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 10.0)
SETTING = "SMSVERIFY['TWILIO']"

#: Twilio error codes with their own explanation: code -> (transient, explanation).
#: Codes not listed fall back on the HTTP status (see :func:`classify`).
ERRORS: dict[int, tuple[bool, str]] = {
    # Account and authentication.
    20003: (False, "authentication failed: ACCOUNT_SID or AUTH_TOKEN is wrong"),
    20005: (False, "the Twilio account is not active"),
    20404: (False, "not found: ACCOUNT_SID, FROM or MESSAGING_SERVICE_SID does not exist"),
    20429: (True, "too many concurrent requests to Twilio for this account"),
    20500: (True, "Twilio internal error"),
    20503: (True, "Twilio is temporarily unavailable"),
    # The recipient.
    21211: (False, "the 'To' number is not a valid phone number"),
    21214: (False, "the 'To' number cannot be reached"),
    21408: (False, "sending to this region is not enabled (Geo Permissions in the console)"),
    21610: (False, "the recipient unsubscribed (replied STOP) from this sender"),
    21612: (False, "the 'To' number cannot be reached by SMS from this sender"),
    21614: (False, "the 'To' number is not a mobile number"),
    21635: (False, "the 'To' number cannot receive SMS (a landline)"),
    # The sender.
    21212: (False, "FROM is not a valid phone number or sender id"),
    21606: (False, "FROM is not an SMS-capable number of this account"),
    21659: (False, "FROM is not a Twilio number of this account"),
    21611: (True, "FROM has too many queued messages; the queue drains with time"),
    21701: (False, "MESSAGING_SERVICE_SID does not exist"),
    21703: (False, "the Messaging Service has no sender that can reach this number"),
    21704: (False, "the Messaging Service has no senders"),
    # The message.
    21602: (False, "the message body is empty"),
    21617: (False, "the message body is longer than 1600 characters"),
    # Delivery errors normally come in status callbacks, not at send time.
    30001: (True, "queue overflow: too many messages queued at once"),
    30003: (False, "the handset is unreachable"),
    30005: (False, "the number is unknown or no longer in service"),
    30006: (False, "landline or unreachable carrier"),
    30007: (False, "the carrier filtered the message"),
    30008: (True, "unknown delivery error"),
}


def classify(code: int | None, http_status: int | None) -> tuple[bool, str]:
    """``(transient, explanation)`` for a Twilio error code and its HTTP status.

    Unlisted codes are transient on HTTP 429 and 5xx (Twilio overloaded or
    down) and permanent on other 4xx (the request itself is wrong, and the same
    request would be refused again).
    """
    if code is not None and code in ERRORS:
        return ERRORS[code]
    status = http_status or 0
    if status == 429:
        return True, "Twilio refused the request: too many requests"
    if status >= 500:
        return True, f"Twilio answered HTTP {status}"
    label = f"Twilio error {code}" if code is not None else f"Twilio answered HTTP {status}"
    return False, label


_BASIC_CREDENTIALS = re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+")
_AUTH_HEADER = re.compile(r"(?i)(authorization\s*[:=]\s*)\S.*")


class _RedactCredentials(logging.Filter):
    """Remove Basic credentials and ``Authorization`` values from log records.

    The SDK logs each request (URL and headers) on ``twilio.http_client``; it
    leaves out the ``Authorization`` header today, but the Basic credentials
    in that header are ``ACCOUNT_SID:AUTH_TOKEN`` in base64, so this filter
    keeps them out of a site's logs even if a future SDK logs it.
    """

    smsverify = True

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logging module's to report
            return True
        redacted = _AUTH_HEADER.sub(r"\1[redacted]", _BASIC_CREDENTIALS.sub(r"\1[redacted]", text))
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


_sdk_logger = logging.getLogger("twilio.http_client")
if not any(getattr(f, "smsverify", False) for f in _sdk_logger.filters):
    _sdk_logger.addFilter(_RedactCredentials())
# Twilio's URLs carry no credential (the Account SID in the path is an
# identifier); the urllib3 filter goes in anyway, as with every backend, so a
# site's logs are redacted the same whichever backend runs.
install_url_redaction()


class _HttpClient(TwilioHttpClient):
    """The SDK's HTTP client, with a ``(connect, read)`` timeout and, for tests,
    another base URL.

    The SDK builds every URL from its product domains (``api.twilio.com``) and
    offers no option to point it elsewhere; this client swaps scheme and host
    of each request for ``base_url`` when one is set, leaving the path (and so
    everything the SDK signs and sends) as it is.
    """

    def __init__(self, timeout: float | tuple[float, float], base_url: str | None) -> None:
        # The base class rejects a tuple (it compares timeout <= 0), although
        # requests takes one; set it after the check.
        super().__init__(timeout=None)
        self.timeout = timeout  # type: ignore[assignment]
        self.base_url = urlsplit(base_url) if base_url else None
        loopback = self.base_url is not None and is_loopback(self.base_url.hostname or "")
        if loopback and self.session is not None:
            # A proxy from the environment must not receive requests meant for
            # this machine (a test's fake server).
            self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url is not None:
            parts = urlsplit(url)
            url = urlunsplit(
                (self.base_url.scheme, self.base_url.netloc, parts.path, parts.query, "")
            )
        return super().request(method, url, *args, **kwargs)


class SmsBackend(ClientBackend):
    """Send plain-text SMS with Twilio's Messages API.

    Each number of a message is its own API call. A message counts as sent
    when Twilio accepted at least one of its numbers; ``status.recipients``
    tells which, ``status.message_id`` is the Message SID (``SM...``) of the
    first accepted number and ``status.provider_code`` Twilio's status of it
    (``"queued"``, or ``"accepted"`` with a Messaging Service). Nothing is
    retried here (see :attr:`SmsSendError.transient`).
    """

    provider_name = "twilio"

    #: Every key ``SMSVERIFY["TWILIO"]`` accepts, with its default (``None``: required,
    #: except that exactly one of ``FROM`` and ``MESSAGING_SERVICE_SID`` is).
    default_settings: Mapping[str, Any] = {
        "ACCOUNT_SID": None,
        "AUTH_TOKEN": None,
        "FROM": None,
        "MESSAGING_SERVICE_SID": None,
        "BASE_URL": None,
        "TIMEOUT": DEFAULT_TIMEOUT,
    }

    settings_block = "TWILIO"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        """Send ``message.body`` to each number and return the status, or raise
        :class:`SmsSendError` when no number was accepted."""
        sender = self._sender()
        recipients: dict[str, str] = {}
        accepted: list[Any] = []
        errors: list[SmsSendError] = []
        with self.client_for_send() as client:
            for number in message.to:
                try:
                    resource = self._create(client, number, message.body, sender)
                except SmsSendError as exc:
                    recipients[number] = FAILED
                    errors.append(exc)
                else:
                    recipients[number] = SENT
                    accepted.append(resource)

        if not accepted:
            first = errors[0]
            if len(errors) > 1:
                # The batch may be retried only if every number may be.
                first.transient = all(e.transient for e in errors)
                first.maybe_sent = any(e.maybe_sent for e in errors)
            raise first
        if errors:
            logger.warning(
                "Twilio refused %d of %d numbers: %s",
                len(errors),
                len(message.to),
                ", ".join(sorted({e.provider_code or "-" for e in errors})),
            )
        return SmsStatus(
            status=SENT,
            provider=self.provider_name,
            message_id=accepted[0].sid or None,
            provider_code=errors[0].provider_code if errors else accepted[0].status,
            recipients=recipients,
        )

    def _create(self, client: Any, number: str, body: str, sender: dict[str, str]) -> Any:
        try:
            resource = client.messages.create(to=number, body=body, **sender)
        except (TwilioRestException, TwilioServiceException) as exc:
            code = _int_or_none(getattr(exc, "code", None))
            http_status = _int_or_none(getattr(exc, "status", None))
            # The SDK puts the HTTP status in ``code`` when the reply had none.
            if code == http_status:
                code = None
            transient, explanation = classify(code, http_status)
            # "from None": the SDK's text repeats Twilio's message, which can
            # quote the number; the parts worth keeping are in ``response``.
            raise SmsSendError(
                explanation,
                provider=self.provider_name,
                provider_code=str(code) if code is not None else f"HTTP {http_status}",
                transient=transient,
                response={
                    "status": http_status,
                    "code": code,
                    "more_info": getattr(exc, "more_info", None)
                    or (f"https://www.twilio.com/docs/errors/{code}" if code else None),
                },
            ) from None
        except requests.RequestException as exc:
            # Connect failures (refused, DNS, connect timeout) mean nothing
            # was sent; a read timeout or a dropped reply leaves it unknown.
            maybe_sent = request_may_have_arrived(exc)
            raise SmsSendError(
                f"could not reach Twilio ({type(exc).__name__})"
                if not maybe_sent
                else f"no answer from Twilio ({type(exc).__name__}); the SMS may go out",
                provider=self.provider_name,
                provider_code=type(exc).__name__,
                transient=True,
                maybe_sent=maybe_sent,
            ) from None
        except ValueError as exc:
            # A 2xx reply that is not JSON: Twilio (or something in between)
            # took the request, so the SMS may go out.
            raise SmsSendError(
                f"Twilio's reply is not valid JSON ({type(exc).__name__})",
                provider=self.provider_name,
                provider_code="invalid_reply",
                transient=True,
                maybe_sent=True,
            ) from None
        if resource.status in ("failed", "undelivered"):
            code = _int_or_none(resource.error_code)
            transient, explanation = classify(code, None)
            raise SmsSendError(
                explanation,
                provider=self.provider_name,
                provider_code=str(code) if code is not None else resource.status,
                transient=transient,
                response={"sid": resource.sid, "status": resource.status, "code": code},
            )
        return resource

    def _sender(self) -> dict[str, str]:
        sender = _text(self.config.get("FROM"))
        service = _text(self.config.get("MESSAGING_SERVICE_SID"))
        if sender and service:
            raise SmsConfigurationError(
                f"{SETTING} sets both 'FROM' and 'MESSAGING_SERVICE_SID'; set one."
            )
        if service:
            return {"messaging_service_sid": service}
        if sender:
            return {"from_": sender}
        raise SmsConfigurationError(f"{SETTING} needs 'FROM' or 'MESSAGING_SERVICE_SID'.")

    def close_client(self, client: Any) -> None:
        _close_session(client)

    def build_client(self) -> Any:
        account_sid = self._credential("ACCOUNT_SID")
        auth_token = self._credential("AUTH_TOKEN")
        base_url = _text(self.config.get("BASE_URL"))
        if base_url:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SmsConfigurationError(
                    f"{SETTING}['BASE_URL'] must be a URL like 'http://127.0.0.1:8080'."
                )
        http_client = _HttpClient(
            parse_timeout(self.config.get("TIMEOUT"), DEFAULT_TIMEOUT), base_url or None
        )
        return Client(account_sid, auth_token, http_client=http_client)

    def _credential(self, key: str) -> str:
        return required_setting(self.config, key, SETTING)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _close_session(client: Any) -> None:
    session = getattr(getattr(client, "http_client", None), "session", None)
    if session is not None:
        session.close()
