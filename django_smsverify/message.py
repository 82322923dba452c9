"""The message object every SMS backend sends, like Django's ``EmailMessage``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from django_smsverify.backends.base import BaseSmsBackend
    from django_smsverify.exceptions import SmsSendError

SENT: Literal["sent"] = "sent"
QUEUED: Literal["queued"] = "queued"
FAILED: Literal["failed"] = "failed"


@dataclass
class SmsStatus:
    """What a backend reports for one message after trying to send it.

    ``status`` is ``"sent"`` (the provider accepted it), ``"queued"`` (handed to
    something that sends later) or ``"failed"``. ``recipients`` maps each
    number to its own status, since providers can refuse some numbers of a
    batch and accept the rest. ``message_id`` is the provider's id for the send.
    """

    status: str
    provider: str = ""
    message_id: str | None = None
    provider_code: str | None = None
    recipients: dict[str, str] = field(default_factory=dict)
    error: SmsSendError | None = None
    #: ``(provider name, outcome)`` for each provider the routing backend
    #: considered, in order (see :mod:`django_smsverify.backends.routing`);
    #: empty for the other backends.
    attempts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sent(self) -> bool:
        return self.status in (SENT, QUEUED)


class SmsMessage:
    """One text message to one or more phone numbers.

    ``to`` holds E.164 numbers (``"+8613800138000"``). ``body`` is the
    human-readable text; template-based providers (Ronglian, Tencent Cloud)
    send ``template_id`` with ``params`` instead and may ignore ``body``.
    ``purpose`` (``"register"``, ``"login"``...) lets a backend pick a
    per-purpose template. After sending, ``status`` holds an :class:`SmsStatus`.
    """

    def __init__(
        self,
        to: str | Sequence[str] = (),
        body: str = "",
        *,
        template_id: str | None = None,
        params: Iterable[str] = (),
        purpose: str | None = None,
        connection: BaseSmsBackend | None = None,
    ) -> None:
        self.to: list[str] = [to] if isinstance(to, str) else list(to)
        self.body = body
        self.template_id = template_id
        self.params: list[str] = [str(p) for p in params]
        self.purpose = purpose
        self.connection = connection
        self.status: SmsStatus | None = None

    def __repr__(self) -> str:
        # Never show body or params: they carry the verification code.
        return f"<SmsMessage to={self.to!r} purpose={self.purpose!r} template={self.template_id!r}>"

    def get_connection(self, fail_silently: bool = False) -> BaseSmsBackend:
        from django_smsverify import get_connection

        if self.connection is None:
            self.connection = get_connection(fail_silently=fail_silently)
        return self.connection

    def send(self, fail_silently: bool = False) -> int:
        """Send the message; return 1 if it was sent, else 0."""
        if not self.to:
            return 0
        return self.get_connection(fail_silently).send_messages([self])
