"""Turns a freshly issued code into an SMS and hands it to the configured backend.

Every dispatch is reported to a *recorder* (the app installs one that writes
``SmsDelivery`` rows when it is ready); the core never imports models itself.

With ``SMSVERIFY["DELIVERY"] = "celery"`` the backend is called by a Celery
worker instead (:mod:`django_smsverify.tasks`), and :func:`dispatch` only
queues the task once the database transaction commits.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NoReturn, Protocol

from django.db import transaction
from django.utils.translation import gettext

from django_smsverify import get_connection, handoff
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import ServiceUnavailable, SmsConfigurationError, SmsSendError
from django_smsverify.message import QUEUED, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.delivery")

#: ``provider`` of the errors the Celery hand-off itself records.
CELERY_PROVIDER = "celery"


class Recorder(Protocol):
    """Receives the life of each dispatch (see :mod:`django_smsverify.records`)."""

    def queued(self, message: SmsMessage, backend: str) -> Any: ...

    def attempted(self, record_id: Any) -> None: ...

    def finished(
        self, record_id: Any, status: SmsStatus | None, error: SmsSendError | None
    ) -> None: ...

    def completed(self, message: SmsMessage, backend: str, error: SmsSendError | None) -> None: ...

    def retrying(self, record_id: Any, error: SmsSendError) -> None: ...

    def failed_if_queued(self, record_id: Any, error: SmsSendError) -> None: ...


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

    def completed(self, message: SmsMessage, backend: str, error: SmsSendError | None) -> None:
        return None

    def retrying(self, record_id: Any, error: SmsSendError) -> None:
        return None

    def failed_if_queued(self, record_id: Any, error: SmsSendError) -> None:
        return None


_recorder: Recorder = NullRecorder()


def set_recorder(recorder: Recorder) -> None:
    """Install the recorder that every dispatch reports to."""
    global _recorder
    _recorder = recorder


_NULL_RECORDER = NullRecorder()


def get_recorder() -> Recorder:
    """The installed recorder, or one that records nothing when
    ``SMSVERIFY["DELIVERY_RECORDS"]`` is off."""
    return _recorder if app_settings.DELIVERY_RECORDS else _NULL_RECORDER


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


def dispatch(
    message: SmsMessage,
    *,
    expires_in: int | None = None,
    on_enqueue_failure: Callable[[], None] | None = None,
) -> SmsStatus | None:
    """Send ``message`` the way ``SMSVERIFY["DELIVERY"]`` says.

    In ``"sync"`` mode the backend is called now and any
    :class:`~django_smsverify.exceptions.SmsSendError` propagates to the caller.

    In ``"celery"`` mode the message is handed to the task
    :func:`django_smsverify.tasks.deliver_sms`, queued when the current
    database transaction commits (at once outside a transaction), and a
    ``queued`` status is returned without waiting for the provider. The task
    gives up ``expires_in`` seconds from now (default ``CODE_TTL``): after that
    the code is dead anyway. If the task cannot be queued (the broker is
    down), the delivery record is marked failed, ``on_enqueue_failure`` is
    called (to give back what the send consumed) and
    :class:`~django_smsverify.exceptions.ServiceUnavailable` is raised.
    """
    mode = app_settings.DELIVERY
    if mode == "celery":
        ttl = app_settings.CODE_TTL if expires_in is None else expires_in
        return _enqueue(message, time.time() + ttl, on_enqueue_failure)
    if mode != "sync":
        raise SmsConfigurationError(
            f'SMSVERIFY["DELIVERY"] = {mode!r} is not supported; use "sync" or "celery".'
        )
    # Sync mode writes one record, once the outcome is known: one INSERT in
    # the hot path instead of three writes, and no row left "queued" forever
    # if the process dies during the provider call.
    try:
        get_connection().send_messages([message])
    except SmsSendError as exc:
        get_recorder().completed(message, app_settings.SMS_BACKEND, exc)
        raise
    get_recorder().completed(message, app_settings.SMS_BACKEND, None)
    return message.status


def _enqueue(
    message: SmsMessage, expires_at: float, on_failure: Callable[[], None] | None
) -> SmsStatus:
    # Imported here: the module needs Celery, which only this mode requires.
    from django_smsverify.tasks import deliver_sms, task_options

    recorder = get_recorder()
    record = recorder.queued(message, app_settings.SMS_BACKEND)

    def fail(code: str, detail: str, exc: BaseException) -> NoReturn:
        logger.error("SMS not queued: %s (%s)", detail, type(exc).__name__, exc_info=exc)
        recorder.finished(
            record,
            None,
            SmsSendError(detail, provider=CELERY_PROVIDER, provider_code=code, transient=True),
        )
        if on_failure is not None:
            on_failure()
        raise ServiceUnavailable() from exc

    try:
        handoff_id, pad = handoff.seal(message, expires_at)
    except Exception as exc:
        fail("cache_unavailable", "the cache could not store the message", exc)
    kwargs = {"handoff_id": handoff_id, "pad": pad, "record_id": record, "expires_at": expires_at}

    def publish() -> None:
        try:
            deliver_sms.apply_async(
                kwargs=kwargs,
                expires=datetime.fromtimestamp(expires_at, timezone.utc),
                **task_options(record),
            )
        except Exception as exc:
            # Any failure to publish (broker down, refused, misconfigured)
            # means no SMS will go: say so now rather than leave the record
            # queued and the user waiting for a text that never comes.
            with contextlib.suppress(Exception):
                handoff.discard(handoff_id)
            fail("broker_unavailable", "the task could not be sent to the broker", exc)

    # After commit, so the worker never runs ahead of the data the request
    # wrote (a user row, the delivery record). robust=False: an enqueue error
    # must reach the caller, which answers 503; outside a transaction (the
    # send_code view) on_commit runs publish() right here.
    transaction.on_commit(publish, robust=False)
    message.status = SmsStatus(status=QUEUED, provider=CELERY_PROVIDER)
    return message.status
