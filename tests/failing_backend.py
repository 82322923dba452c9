"""A backend for tests whose sends fail, transiently or permanently, on demand."""

from __future__ import annotations

from typing import Any

from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.exceptions import SmsSendError
from django_smsverify.message import SmsMessage, SmsStatus


class SmsBackend(BaseSmsBackend):
    """Raise ``error`` (default: a permanent provider error) from every send."""

    provider_name = "failing"
    #: What the next instances raise; tests may replace it.
    error_factory: Any = None
    calls = 0

    def send_message(self, message: SmsMessage) -> SmsStatus:
        type(self).calls += 1
        if self.error_factory is not None:
            raise self.error_factory()
        raise SmsSendError("template not approved", provider_code="TPL", transient=False)


class CrashingBackend(BaseSmsBackend):
    """A backend with a bug: raises a plain exception."""

    provider_name = "crashing"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        raise KeyError("bug")


class UnconfirmedBackend(BaseSmsBackend):
    """A provider that takes the message (it lands in the outbox) but whose
    answer never comes back: a read timeout after the request went out."""

    provider_name = "unconfirmed"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        import django_smsverify

        django_smsverify.outbox.append(message)
        raise SmsSendError("did not answer in time (ReadTimeout)", transient=True, maybe_sent=True)
