"""The Celery task that sends a verification SMS (``SMSVERIFY["DELIVERY"] = "celery"``).

:func:`deliver_sms` is a ``shared_task``: it joins the site's own Celery app
when that app runs ``app.autodiscover_tasks()`` (which imports
``django_smsverify.tasks`` for every installed app). Its name is
``django_smsverify.deliver_sms``; route it with ``SMSVERIFY["CELERY"]["QUEUE"]``
or the site's ``task_routes``.

How the code stays out of the broker, Celery's logs and result backends is
described in :mod:`django_smsverify.handoff`.

**At most once, per try.** The task is acknowledged late (``acks_late``) and
re-queued when its worker dies (``reject_on_worker_lost``), so a task message
is delivered *at least* once and no delivery record is left ``queued``
because a worker vanished. The provider call, though, is made *at most*
once per try: each try is claimed atomically in the cache first, and a
redelivered message that finds its try already claimed never calls the
provider again. We choose at-most-once because the two failure modes are not
equal: a lost SMS costs the user one press of "resend" after the cooldown,
while a duplicate costs money, can trip the provider's per-number limits
(Ronglian 160038, Tencent ``LimitExceeded.*``) and, for a code, leaves two
texts that look alike. When the worker died during the provider call, nobody
knows whether the SMS went out; the redelivered task records the delivery as
failed with the code ``interrupted`` and does not resend.

**Retries.** Transient provider errors (timeouts, HTTP 5xx, provider rate
limits: :attr:`SmsSendError.transient <django_smsverify.exceptions.SmsSendError>`)
are tried again up to ``SMSVERIFY["CELERY"]["MAX_RETRIES"]`` times, with an
exponential backoff and jitter, and never once the code has expired: the
message carries the code's expiry both as Celery's ``expires`` and in its
arguments, checked again before each try. Permanent errors are never retried.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from django_smsverify.exceptions import MissingDependency

try:
    from celery import shared_task
    from celery.exceptions import Retry
    from celery.signals import task_revoked
except ImportError as exc:  # pragma: no cover - exercised with celery hidden
    raise MissingDependency("celery", 'SMSVERIFY["DELIVERY"] = "celery"') from exc

from django_smsverify import get_connection, guard, handoff
from django_smsverify.conf import app_settings
from django_smsverify.delivery import CELERY_PROVIDER, get_recorder
from django_smsverify.exceptions import SmsSendError

logger = logging.getLogger("django_smsverify.tasks")

# Retry jitter; SystemRandom so no module-level random state is involved anywhere.
_jitter = secrets.SystemRandom()

#: The registered name of :func:`deliver_sms`.
TASK_NAME = "django_smsverify.deliver_sms"


def task_options(record_id: Any) -> dict[str, Any]:
    """The ``apply_async`` options for one delivery: the configured queue and
    priority, and argument reprs that show only the delivery record id."""
    options: dict[str, Any] = {
        # What Celery logs, sends in events and shows in monitoring tools
        # instead of the real arguments (which hold half of the message).
        "argsrepr": "()",
        "kwargsrepr": repr({"record_id": record_id}),
    }
    celery_settings = app_settings.CELERY
    if celery_settings.QUEUE:
        options["queue"] = celery_settings.QUEUE
    if celery_settings.PRIORITY is not None:
        options["priority"] = celery_settings.PRIORITY
    return options


def retry_delay(attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1`` after try ``attempt`` (0-based) failed.

    ``RETRY_BACKOFF * 2**attempt``, capped at ``RETRY_BACKOFF_MAX``; with
    ``RETRY_JITTER`` a random point in the upper half of that, so the retries
    of many messages hit by one outage spread out instead of arriving together.
    """
    options = app_settings.CELERY
    delay = min(float(options.RETRY_BACKOFF) * 2**attempt, float(options.RETRY_BACKOFF_MAX))
    if options.RETRY_JITTER:
        delay = delay / 2 + _jitter.uniform(0, delay / 2)
    return delay


def _error(code: str, detail: str, *, transient: bool = False) -> SmsSendError:
    return SmsSendError(detail, provider=CELERY_PROVIDER, provider_code=code, transient=transient)


def _expired() -> SmsSendError:
    return _error("expired", "the code expired before the SMS could be sent")


@shared_task(
    bind=True,
    name=TASK_NAME,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    store_errors_even_if_ignored=False,
    # Retries are bounded here, by SMSVERIFY["CELERY"]["MAX_RETRIES"] and the
    # code's expiry; Celery's own default limit (3) must not cut in first.
    max_retries=None,
)
def deliver_sms(self: Any, handoff_id: str, pad: str, record_id: Any, expires_at: float) -> None:
    """Send the SMS that :func:`django_smsverify.delivery.dispatch` handed off.

    ``handoff_id`` and ``pad`` locate and unlock the message (see
    :mod:`django_smsverify.handoff`), ``record_id`` is its ``SmsDelivery``
    row (``None`` if it could not be written), ``expires_at`` the code's
    expiry in epoch seconds. Returns nothing: the outcome is in the record.
    """
    attempt = int(self.request.retries or 0)
    recorder = get_recorder()
    if time.time() >= expires_at:
        recorder.failed_if_queued(record_id, _expired())
        handoff.discard(handoff_id)
        return
    try:
        previous = handoff.claim(handoff_id, attempt, expires_at)
    except Exception as exc:
        # The cache is down; nothing was sent, so trying later is safe.
        logger.warning("delivery %s: cannot claim try %d (%s)", record_id, attempt, exc)
        _retry_or_fail(
            self,
            record_id,
            handoff_id,
            expires_at,
            _error(
                "cache_unavailable",
                f"the cache is unavailable ({type(exc).__name__})",
                transient=True,
            ),
            claimed=False,
        )
        return
    if previous is not None:
        _redelivered(self, previous, record_id, handoff_id, attempt, expires_at)
        return

    message = handoff.open_sealed(handoff_id, pad)
    if message is None:
        _finish(record_id, handoff_id, attempt, expires_at, None, _expired())
        return
    recorder.attempted(record_id)
    try:
        get_connection().send_messages([message])
    except SmsSendError as exc:
        _retry_or_fail(self, record_id, handoff_id, expires_at, exc, claimed=True)
        # _retry_or_fail raised Retry if another try is coming: this one was the last.
        if message.to:
            guard.count_failure(message.to[0], message.purpose or "", exc)
        return
    except Exception as exc:
        # A configuration error or a bug: record it, then let Celery log it.
        _finish(
            record_id,
            handoff_id,
            attempt,
            expires_at,
            None,
            _error(type(exc).__name__, "the SMS backend raised an unexpected error"),
        )
        raise
    _finish(record_id, handoff_id, attempt, expires_at, message.status, None)


def _finish(
    record_id: Any,
    handoff_id: str,
    attempt: int,
    expires_at: float,
    status: Any,
    error: SmsSendError | None,
) -> None:
    # The record first, the claim after: a worker that dies in between leaves
    # the claim at SENDING, and the redelivery then finds the record already
    # final (failed_if_queued changes nothing). The other order could leave
    # the claim DONE and the record queued for ever.
    get_recorder().finished(record_id, status, error)
    handoff.mark(handoff_id, attempt, handoff.DONE, expires_at)
    handoff.discard(handoff_id)


def _retry_or_fail(
    task: Any,
    record_id: Any,
    handoff_id: str,
    expires_at: float,
    error: SmsSendError,
    *,
    claimed: bool,
) -> None:
    """Schedule the next try if ``error`` is transient and one is allowed, else close."""
    attempt = int(task.request.retries or 0)
    delay = retry_delay(attempt)
    if (
        error.transient
        and attempt < app_settings.CELERY.MAX_RETRIES
        and time.time() + delay < expires_at
    ):
        get_recorder().retrying(record_id, error)
        if claimed:
            handoff.mark(handoff_id, attempt, handoff.RETRYING, expires_at)
        try:
            _schedule_retry(task, record_id, expires_at, delay, error)
        except Retry:
            raise
        except Exception as exc:
            # The broker went away between the try and its retry.
            logger.error("delivery %s: cannot schedule a retry (%s)", record_id, exc)
            error = _error("broker_unavailable", "the retry could not be sent to the broker")
    if claimed:
        _finish(record_id, handoff_id, attempt, expires_at, None, error)
    else:
        get_recorder().failed_if_queued(record_id, error)
        handoff.discard(handoff_id)


def _schedule_retry(
    task: Any, record_id: Any, expires_at: float, delay: float, error: BaseException
) -> None:
    """Publish the next try and raise ``celery.exceptions.Retry``, which tells
    the worker the message was re-published and may be acknowledged."""
    raise task.retry(
        countdown=delay,
        exc=error,
        expires=datetime.fromtimestamp(expires_at, timezone.utc),
        # Retries are new messages: hide their arguments again.
        argsrepr="()",
        kwargsrepr=repr({"record_id": record_id}),
    )


def _redelivered(
    task: Any, previous: str, record_id: Any, handoff_id: str, attempt: int, expires_at: float
) -> None:
    """Another delivery of try ``attempt``'s message: never call the provider again."""
    logger.warning(
        "delivery %s: try %d was already claimed (%s); not sending again",
        record_id,
        attempt,
        previous,
    )
    if previous == handoff.RETRYING:
        # The worker scheduled a retry and may have died before the retry
        # message was published. Publish it (again): the next try's claim
        # keeps a duplicate message from sending twice.
        delay = retry_delay(attempt)
        if time.time() + delay < expires_at:
            _schedule_retry(
                task, record_id, expires_at, delay, _error("redelivered", "retry re-published")
            )
        get_recorder().failed_if_queued(record_id, _expired())
        handoff.discard(handoff_id)
    elif previous == handoff.SENDING:
        # The owner died (or, far less likely, is still waiting on the
        # provider). Whether the SMS left is unknown; at most once means we
        # close the record instead of resending. A still-running owner will
        # overwrite this with its own final status.
        get_recorder().failed_if_queued(
            record_id,
            _error(
                "interrupted",
                "the worker stopped during the provider call; the SMS may or may not "
                "have been sent and was not sent again",
            ),
        )
        handoff.discard(handoff_id)
    # DONE: the owner finished and recorded the outcome; nothing to do.


@task_revoked.connect(dispatch_uid="django_smsverify.tasks.on_revoked")
def _on_revoked(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    """Close the record of a delivery Celery discarded (expired or revoked) unrun."""
    if getattr(sender, "name", None) != TASK_NAME:
        return
    task_kwargs = getattr(request, "kwargs", None) or {}
    if not isinstance(task_kwargs, dict):
        return
    reason = _expired() if kwargs.get("expired") else _error("revoked", "the task was revoked")
    try:
        get_recorder().failed_if_queued(task_kwargs.get("record_id"), reason)
    finally:
        # This runs in the worker's consumer thread, outside any task, where
        # nothing else would ever close the database connection it opened.
        from django.db import connections

        connections.close_all()
    handoff_id = task_kwargs.get("handoff_id")
    if isinstance(handoff_id, str):
        try:
            handoff.discard(handoff_id)
        except Exception:
            logger.warning(
                "delivery %s: could not discard the hand-off", task_kwargs.get("record_id")
            )
