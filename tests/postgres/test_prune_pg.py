"""On PostgreSQL, ``smsverify_prune`` deletes the older half of 100,000
delivery records in bounded batches, each committed on its own, while another
connection keeps writing to the table."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from django_smsverify.models import SmsDelivery

pytestmark = pytest.mark.django_db(transaction=True)

TOTAL = 100_000
BATCH = 1000


def seed() -> None:
    """TOTAL rows in one statement: even numbers 60 days old, odd ones a day
    old, so every batch of ids walks past new rows; statuses rotate, so old
    queued rows are among those to go."""
    table = connection.ops.quote_name(SmsDelivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (
                phone, purpose, backend, status, provider_message_id, provider,
                providers_tried, error_code, error_message, transient, attempts,
                created_at, updated_at
            )
            SELECT '+86138' || lpad(i::text, 8, '0'), 'login', 'seed',
                   (ARRAY['sent', 'failed', 'queued'])[1 + i %% 3], '', '', '', '', '',
                   false, 1,
                   now() - CASE WHEN i %% 2 = 0 THEN interval '60 days'
                                ELSE interval '1 day' END,
                   now()
            FROM generate_series(1, %s) AS i
            """,  # noqa: S608 - the table name comes from the model
            [TOTAL],
        )


def ids(**filters: Any) -> set[int]:
    return set(SmsDelivery.objects.filter(**filters).values_list("pk", flat=True))


def test_prunes_half_of_100k_rows_in_batches_next_to_a_writer():
    seed()
    everything = ids()
    old = ids(created_at__lt=timezone.now() - timedelta(days=30))
    new = everything - old
    assert len(old) == len(new) == TOTAL // 2
    assert SmsDelivery.objects.filter(pk__in=old, status="queued").exists()

    out = StringIO()
    call_command("smsverify_prune", "--older-than", "30d", "--dry-run", stdout=out)
    assert "that would be deleted: 50000." in out.getvalue()
    assert ids() == everything

    deleted_per_statement: list[int] = []
    failures: list[BaseException] = []

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("DELETE"):
            deleted_per_statement.append(context["cursor"].rowcount)
        return result

    def prune() -> None:
        # A thread of its own: its own connection, like a cron job next to the site.
        try:
            with connection.execute_wrapper(watch):
                call_command(
                    "smsverify_prune",
                    "--older-than",
                    "30d",
                    "--batch-size",
                    str(BATCH),
                    "--sleep",
                    "0.02",
                    stdout=out,
                )
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    out = StringIO()
    started = time.perf_counter()
    thread = threading.Thread(target=prune)
    thread.start()
    try:
        # Wait for the first batch to commit, as seen from this connection.
        while SmsDelivery.objects.count() == TOTAL and thread.is_alive():
            time.sleep(0.005)

        # Writes from the site meanwhile: a new record, and an update of the
        # last old row, which the prune deletes in its final batch.
        write_started = time.perf_counter()
        written = SmsDelivery.objects.create(phone="+8613900139000", backend="site")
        updated = SmsDelivery.objects.filter(pk=max(old)).update(status="failed")
        write_seconds = time.perf_counter() - write_started
        seen_midway = SmsDelivery.objects.count()
        prune_still_running = thread.is_alive()
    finally:
        thread.join(timeout=60)
    prune_seconds = time.perf_counter() - started

    assert not failures, failures
    assert not thread.is_alive()
    # The writes did not wait for the prune to end: it was still running when
    # they were done, and the last old row was still there to update.
    assert prune_still_running, prune_seconds
    assert updated == 1
    assert write_seconds < 1.0, write_seconds
    # Other connections see batches commit one by one, not all at the end
    # (the count includes the row written: TOTAL // 2 + 1 is the end state).
    assert TOTAL // 2 + 1 < seen_midway <= TOTAL, seen_midway

    # Exactly the old rows went, the queued ones with them; the new ones and
    # the row written meanwhile stayed.
    assert ids() == new | {written.pk}
    # Every DELETE removed one batch at most.
    assert max(deleted_per_statement) == BATCH
    assert sum(deleted_per_statement) == TOTAL // 2
    assert len(deleted_per_statement) == TOTAL // 2 // BATCH
    assert "deleted: 50000 (batches: 50," in out.getvalue()
    assert prune_seconds < 20, prune_seconds
