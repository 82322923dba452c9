"""Keeps messages in ``django_smsverify.outbox``: the backend for tests."""

from __future__ import annotations

import threading
from typing import Any

import django_smsverify
from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.message import SENT, SmsMessage, SmsStatus

_lock = threading.Lock()


class SmsBackend(BaseSmsBackend):
    """Append each message to :data:`django_smsverify.outbox` instead of sending it."""

    provider_name = "locmem"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(django_smsverify, "outbox"):
            django_smsverify.outbox = []

    def send_message(self, message: SmsMessage) -> SmsStatus:
        with _lock:
            django_smsverify.outbox.append(message)
        return SmsStatus(
            status=SENT,
            provider=self.provider_name,
            message_id=f"locmem-{len(django_smsverify.outbox)}",
            recipients=dict.fromkeys(message.to, SENT),
        )
