"""Small helpers shared by tests."""

from __future__ import annotations

import django_smsverify


def last_code(phone: str | None = None) -> str:
    """The code in the newest message of the outbox (optionally to ``phone``)."""
    for message in reversed(django_smsverify.outbox):
        if phone is None or phone in message.to:
            return message.params[0]
    raise AssertionError(f"no SMS to {phone or 'anyone'} in the outbox")


def wrong_code(code: str) -> str:
    """A code of the same length that differs from ``code``."""
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
