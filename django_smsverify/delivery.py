"""Turns a freshly issued code into an SMS and hands it to the configured backend.

Every dispatch is reported to a *recorder* (the app installs one that writes
``SmsDelivery`` rows when it is ready); the core never imports models itself.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from django.utils.translation import gettext

from django_smsverify import get_connection
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage, SmsStatus


class Recorder(Protocol):
    """Receives the life of each dispatch (see :mod:`django_smsverify.records`)."""

    def queued(self, message: SmsMessage, backend: str) -> Any: ...

    def attempted(self, record_id: Any) -> None: ...

    def finished(
        self, record_id: Any, status: SmsStatus | None, error: SmsSendError | None
    ) -> None: ...


class NullRecorder:
    """Records nothing (used until the app is ready, and outside Django apps)."""

    def queued(self, message: SmsMessage, backend: str) -> Any:
        return None

    def attempted(self, record_id: Any) -> None:
        return None

    def finished(
        self, record_id: Any, status: SmsStatus | None, error: SmsSendError | None
    ) -> None:
        return None


_recorder: Recorder = NullRecorder()


def set_recorder(recorder: Recorder) -> None:
    """Install the recorder that every dispatch reports to."""
    global _recorder
    _recorder = recorder


def get_recorder() -> Recorder:
    return _recorder


def minutes_of(ttl_seconds: int) -> int:
    return max(1, math.ceil(ttl_seconds / 60))


def build_message(phone: str, code: str, purpose: str, ttl_seconds: int) -> SmsMessage:
    """The SMS carrying ``code``: readable text plus template params ``[code, minutes]``."""
    minutes = minutes_of(ttl_seconds)
    body = gettext(
        "Your verification code is %(code)s. It expires in %(minutes)d minutes. "
        "Do not share it with anyone."
    ) % {"code": code, "minutes": minutes}
    return SmsMessage(to=[phone], body=body, params=[code, str(minutes)], purpose=purpose)


def dispatch(message: SmsMessage) -> SmsStatus | None:
    """Send ``message`` the way ``SMSVERIFY["DELIVERY"]`` says.

    In ``"sync"`` mode the backend is called now and any
    :class:`~django_smsverify.exceptions.SmsSendError` propagates to the caller.
    """
    mode = app_settings.DELIVERY
    if mode != "sync":
        raise SmsConfigurationError(
            f'SMSVERIFY["DELIVERY"] = {mode!r} is not supported; use "sync".'
        )
    record = _recorder.queued(message, app_settings.SMS_BACKEND)
    _recorder.attempted(record)
    try:
        get_connection().send_messages([message])
    except SmsSendError as exc:
        _recorder.finished(record, message.status, exc)
        raise
    _recorder.finished(record, message.status, None)
    return message.status
