"""Writes each message to standard output: the development backend."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.message import SENT, SmsMessage, SmsStatus


class SmsBackend(BaseSmsBackend):
    """Print messages to ``stream`` (default ``sys.stdout``), one block each.

    Writes happen under a lock so messages from concurrent requests never
    interleave. This backend shows verification codes in the terminal, which is
    its purpose; never use it in production.
    """

    provider_name = "console"

    def __init__(self, *args: Any, stream: IO[str] | None = None, **kwargs: Any) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def send_message(self, message: SmsMessage) -> SmsStatus:
        lines = [
            f"-- SMS to {', '.join(message.to)} (purpose: {message.purpose or '-'}) --",
            message.body,
        ]
        if message.template_id:
            lines.append(f"[template {message.template_id}: {', '.join(message.params)}]")
        lines.append("-" * 40)
        with self._lock:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        return SmsStatus(
            status=SENT, provider=self.provider_name, recipients=dict.fromkeys(message.to, SENT)
        )
