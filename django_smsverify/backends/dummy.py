"""Discards every message (reports it as sent)."""

from __future__ import annotations

from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.message import SENT, SmsMessage, SmsStatus


class SmsBackend(BaseSmsBackend):
    """Do nothing, successfully."""

    provider_name = "dummy"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        return SmsStatus(
            status=SENT, provider=self.provider_name, recipients=dict.fromkeys(message.to, SENT)
        )
