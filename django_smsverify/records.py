"""Writes an :class:`~django_smsverify.models.SmsDelivery` row per dispatch.

Installed as the delivery recorder when the app is ready (see ``apps.py``), so
the core's delivery module never imports models. A failure to write a record
is logged and never stops an SMS.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from django_smsverify.exceptions import SmsSendError
from django_smsverify.message import SENT, SmsMessage, SmsStatus

logger = logging.getLogger("django_smsverify.records")


class DatabaseRecorder:
    """Delivery recorder backed by the ``SmsDelivery`` model."""

    def queued(self, message: SmsMessage, backend: str) -> Any:
        from django_smsverify.models import SmsDelivery

        record = SmsDelivery(
            phone=",".join(message.to)[:20], purpose=message.purpose or "", backend=backend[:200]
        )
        try:
            return _insert(record)
        except Exception:
            logger.exception("could not create the SMS delivery record")
            return None

    def attempted(self, record_id: Any) -> None:
        from django.db.models import F

        from django_smsverify.models import SmsDelivery

        if record_id is None:
            return
        try:
            SmsDelivery.objects.filter(pk=record_id).update(
                attempts=F("attempts") + 1, updated_at=timezone.now()
            )
        except Exception:
            logger.exception("could not update the SMS delivery record")

    def finished(
        self, record_id: Any, status: SmsStatus | None, error: SmsSendError | None
    ) -> None:
        from django_smsverify.models import SmsDelivery

        if record_id is None:
            return
        fields: dict[str, Any] = {"updated_at": timezone.now()}
        if error is None and status is not None and status.status == SENT:
            # Clear what a failed earlier try (Celery retries) wrote.
            fields.update(
                status=SmsDelivery.Status.SENT,
                provider_message_id=(status.message_id or "")[:200],
                provider=(status.provider or "")[:50],
                sent_at=timezone.now(),
                error_code="",
                error_message="",
                transient=False,
            )
        else:
            fields.update(status=SmsDelivery.Status.FAILED, **_error_fields(error))
        fields.update(_tried_update(status, error))
        try:
            SmsDelivery.objects.filter(pk=record_id).update(**fields)
        except Exception:
            logger.exception("could not update the SMS delivery record")

    def completed(self, message: SmsMessage, backend: str, error: SmsSendError | None) -> None:
        """Write the finished record of a synchronous send in one INSERT."""
        from django_smsverify.models import SmsDelivery

        status = message.status
        now = timezone.now()
        fields: dict[str, Any] = {
            "phone": ",".join(message.to)[:20],
            "purpose": message.purpose or "",
            "backend": backend[:200],
            "attempts": 1,
        }
        if error is None and status is not None and status.status == SENT:
            fields.update(
                status=SmsDelivery.Status.SENT,
                provider_message_id=(status.message_id or "")[:200],
                provider=(status.provider or "")[:50],
                sent_at=now,
            )
        else:
            fields.update(status=SmsDelivery.Status.FAILED, **_error_fields(error))
        tried = _tried(status, error)
        if tried:
            fields["providers_tried"] = tried
        try:
            _insert(SmsDelivery(**fields))
        except Exception:
            logger.exception("could not create the SMS delivery record")

    def retrying(self, record_id: Any, error: SmsSendError) -> None:
        """A try failed with a transient error and another is scheduled: keep
        the status ``queued`` and show the error."""
        self._update(
            record_id, {"status": "queued"}, {**_error_fields(error), **_tried_update(None, error)}
        )

    def failed_if_queued(self, record_id: Any, error: SmsSendError) -> None:
        """Mark a record that is still ``queued`` as failed with ``error``.

        Used when the outcome is decided outside a normal try (the code expired
        before a worker ran the task, a redelivered task found its try
        interrupted). A record that already has its final status keeps it, so
        a worker that is in fact still sending can still record ``sent``.
        """
        self._update(record_id, {"status": "queued"}, {"status": "failed", **_error_fields(error)})

    def _update(self, record_id: Any, match: dict[str, Any], fields: dict[str, Any]) -> None:
        from django_smsverify.models import SmsDelivery

        if record_id is None:
            return
        try:
            SmsDelivery.objects.filter(pk=record_id, **match).update(
                updated_at=timezone.now(), **fields
            )
        except Exception:
            logger.exception("could not update the SMS delivery record")


def _insert(record: Any) -> Any:
    """Save a new record and return its primary key; on PostgreSQL, without
    waiting for the WAL flush.

    A send writes its record in the request (after the SMS has gone, or when
    the Celery task is queued). Waiting for PostgreSQL to flush the commit to
    disk (the default, ``synchronous_commit = on``) is most of that INSERT's
    cost, and with slow flushes it cut a worker's send-code requests/s by up
    to half (docs/benchmarks). The row is a log of what happened, not state
    anything depends on, so its commit does not wait: the worst a
    database server crash can do is lose the last fraction of a second of
    records (``3 * wal_writer_delay``); nothing is corrupted, and an
    application crash loses nothing. The setting is ``LOCAL`` to the INSERT's
    own transaction, so it is only used when the INSERT is that transaction
    (autocommit); inside a site's transaction (``ATOMIC_REQUESTS``, say) the
    record commits with the site's own writes, as they do.
    """
    from django.db import connections, router

    model = type(record)
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        record.save(using=using, force_insert=True)
        return record.pk
    meta = model._meta
    if meta.db_table not in _POSTGRES_INSERT:
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        # Table and column names come from the model and are quoted; values are parameters.
        _POSTGRES_INSERT[meta.db_table] = (
            f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            # Evaluated inside the INSERT's own transaction, so it applies to
            # that transaction's commit, in the same round trip.
            f"RETURNING {quote(meta.pk.column)}, set_config('synchronous_commit', 'off', true)",
            fields,
        )
    sql, fields = _POSTGRES_INSERT[meta.db_table]
    # pre_save fills auto_now and auto_now_add fields, as save() does.
    params = [f.get_db_prep_save(f.pre_save(record, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


#: The PostgreSQL INSERT of :func:`_insert` and the fields it writes, by table.
_POSTGRES_INSERT: dict[str, tuple[str, list[Any]]] = {}


def _tried(status: SmsStatus | None, error: SmsSendError | None) -> str:
    """The routing backend's providers tried, as the record shows them ("" for other backends)."""
    from django_smsverify.backends.routing import describe_attempts

    attempts = (status.attempts if status is not None else None) or getattr(error, "attempts", None)
    return describe_attempts(attempts) if attempts else ""


def _tried_update(status: SmsStatus | None, error: SmsSendError | None) -> dict[str, Any]:
    """The UPDATE that appends this try's providers to ``providers_tried``
    (a Celery delivery may take several tries), in the UPDATE itself."""
    from django.db.models import Case, F, TextField, Value, When
    from django.db.models.functions import Concat

    tried = _tried(status, error)
    if not tried:
        return {}
    text = TextField()
    return {
        "providers_tried": Case(
            When(providers_tried="", then=Value(tried, output_field=text)),
            default=Concat(F("providers_tried"), Value("; " + tried), output_field=text),
            output_field=text,
        )
    }


def _error_fields(error: SmsSendError | None) -> dict[str, Any]:
    return {
        "error_code": ((error and error.provider_code) or "")[:100],
        "error_message": (error.detail if error else "")[:2000],
        "transient": bool(error and error.transient),
    }
