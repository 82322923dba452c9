"""The base class every SMS backend extends.

As with Django's mail backends, the base class owns the send loop: opening and
closing the connection, calling the provider step once per message, recording a
status on each message, and error handling. A provider module implements only
:meth:`BaseSmsBackend.send_message` (plus ``open``/``close`` if it keeps a
connection) and raises :class:`~django_smsverify.exceptions.SmsSendError`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_smsverify.conf import app_settings
from django_smsverify.exceptions import SmsConfigurationError, SmsSendError
from django_smsverify.message import FAILED, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.backends")

# How requests/urllib3 describe a failure to connect: nothing was sent.
# Tencent's SDK hands transport errors on only as text (ClientNetworkError),
# so both backends read the text.
_BEFORE_SENDING = (
    "newconnectionerror",
    "connecttimeout",
    "failed to establish",
    "nameresolution",
    "failed to resolve",
    "name or service not known",
    "connection refused",
)


def request_may_have_arrived(error: BaseException | str) -> bool:
    """Whether an HTTP client error (a ``requests`` exception, or its text)
    may have come after the provider received the request.

    A failure to connect (refused, DNS, connect timeout) means nothing was
    sent. Anything else (a read timeout, a connection dropped while waiting
    for the reply, a reply cut short) leaves the outcome unknown: the SMS may
    go out. Texts we do not recognise count as "may have arrived", since
    withdrawing a code that then arrives is worse for the user than waiting
    out a cooldown.
    """
    text = str(error)
    if isinstance(error, BaseException):
        text = f"{type(error).__name__} {text}"
    text = text.lower()
    return not any(marker in text for marker in _BEFORE_SENDING)


def parse_timeout(value: Any, default: float) -> float | tuple[float, float]:
    """A provider block's ``TIMEOUT`` as requests takes it: one number of
    seconds or a ``(connect, read)`` pair; ``default`` when unset."""
    if value is None:
        return default
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (float(value[0]), float(value[1]))
    return float(value)


def required_setting(config: Mapping[str, Any], key: str, setting: str) -> str:
    """``config[key]`` as text, or :class:`SmsConfigurationError` naming
    ``setting`` (e.g. ``"SMSVERIFY['TENCENT']"``) when it is missing or empty."""
    value = config.get(key)
    if value is None or str(value).strip() == "":
        raise SmsConfigurationError(
            f"{setting}[{key!r}] is {'missing' if value is None else 'empty'}."
        )
    return str(value)


def is_loopback(endpoint: str) -> bool:
    """Whether ``endpoint`` (a host, or ``host:port``) names this machine.

    SDK backends use it to leave the environment's proxy out of requests to a
    local fake or relay, which a proxy could not reach."""
    host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BaseSmsBackend:
    """Base class for SMS backends.

    Subclasses implement :meth:`send_message`. ``fail_silently`` makes
    :meth:`send_messages` swallow send errors (each message's ``status`` still
    records the failure); configuration errors are always raised.
    """

    #: Short name used in statuses, errors and delivery records.
    provider_name = "base"

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        self.fail_silently = fail_silently

    def open(self) -> bool:
        """Open a connection if the backend keeps one. Return True if a new one was opened."""
        return False

    def close(self) -> None:
        """Close the connection opened by :meth:`open`."""

    def __enter__(self) -> BaseSmsBackend:
        try:
            self.open()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        """Send each message and return how many were sent.

        Every message gets a ``status``. Unless ``fail_silently`` is set, the
        first :class:`SmsSendError` is raised (messages after it are not tried).
        """
        if not messages:
            return 0
        new_connection = self.open()
        try:
            sent = 0
            for message in messages:
                if not message.to:
                    continue
                try:
                    status = self.send_message(message)
                except ImproperlyConfigured:
                    raise
                except SmsSendError as exc:
                    exc.provider = exc.provider or self.provider_name
                    self._record_failure(message, exc)
                    if not self.fail_silently:
                        raise
                    continue
                except Exception as exc:
                    # A bug or an unexpected library error must not become a
                    # 500 for the end user; report it as a permanent send error
                    # and keep the original as the cause for the logs.
                    error = SmsSendError(
                        f"unexpected {type(exc).__name__}", provider=self.provider_name
                    )
                    error.__cause__ = exc
                    logger.error(
                        "SMS backend %s raised %s",
                        self.provider_name,
                        type(exc).__name__,
                        exc_info=exc,
                    )
                    self._record_failure(message, error)
                    if not self.fail_silently:
                        raise error from exc
                    continue
                message.status = status
                if status.sent:
                    sent += 1
            return sent
        finally:
            if new_connection:
                self.close()

    def _record_failure(self, message: SmsMessage, error: SmsSendError) -> None:
        message.status = SmsStatus(
            status=FAILED,
            provider=error.provider or self.provider_name,
            provider_code=error.provider_code,
            recipients=dict.fromkeys(message.to, FAILED),
            error=error,
        )
        logger.warning(
            "SMS to %d number(s) failed: %s (%s)",
            len(message.to),
            error.provider_code or "-",
            "transient" if error.transient else "permanent",
        )

    def send_message(self, message: SmsMessage) -> SmsStatus:
        """Send one message and return its status, or raise :class:`SmsSendError`.

        The provider step: subclasses must implement it.
        """
        raise NotImplementedError("subclasses of BaseSmsBackend must implement send_message()")


class ClientBackend(BaseSmsBackend):
    """A backend that talks to its provider through an SDK client object.

    The client is built by :meth:`open` and kept for the messages of one
    batch; :meth:`client_for_send` gives a message sent outside a batch a
    client of its own. Subclasses name their ``SMSVERIFY`` block
    (``settings_block``), list its keys with their defaults
    (``default_settings``) and implement :meth:`build_client` (and
    :meth:`close_client` if a client holds connections).
    """

    #: The ``SMSVERIFY`` key of the provider's settings block, e.g. ``"TENCENT"``.
    settings_block = ""
    #: Every key the block accepts, with its default (``None``: required).
    default_settings: Mapping[str, Any] = {}

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.config: dict[str, Any] = {
            **self.default_settings,
            **(getattr(app_settings, self.settings_block) or {}),
        }
        self.client: Any = None

    def open(self) -> bool:
        """Build the SDK client (kept across the messages of one batch)."""
        if self.client is not None:
            return False
        self.client = self.build_client()
        return True

    def close(self) -> None:
        """Drop the client built by :meth:`open` and close what it holds open."""
        client, self.client = self.client, None
        if client is not None:
            self.close_client(client)

    @contextmanager
    def client_for_send(self) -> Iterator[Any]:
        """The batch's client, or one built (and closed) for this send alone."""
        if self.client is not None:
            yield self.client
            return
        client = self.build_client()
        try:
            yield client
        finally:
            self.close_client(client)

    def build_client(self) -> Any:
        """A ready SDK client for ``self.config``."""
        raise NotImplementedError("subclasses of ClientBackend must implement build_client()")

    def close_client(self, client: Any) -> None:
        """Close the connections ``client`` holds; nothing by default."""
