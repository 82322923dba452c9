"""On PostgreSQL a delivery record written in its own transaction commits
without waiting for the WAL flush."""

from __future__ import annotations

import pytest
from django.db import connection

from django_smsverify import delivery
from django_smsverify.models import SmsDelivery

pytestmark = pytest.mark.django_db(transaction=True)


def dispatch(phone: str) -> None:
    delivery.dispatch(delivery.build_message(phone, "123456", "login", 300))


def wal_syncs() -> int:
    with connection.cursor() as cursor:
        # Statistics reach the shared view when a backend goes idle; make ours
        # go now rather than at most a second later.
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT wal_sync FROM pg_stat_wal")
        return cursor.fetchone()[0]


def test_postgres_record_commit_does_not_wait_for_the_wal_flush():
    n = 40
    before = wal_syncs()
    for i in range(n):  # the ordinary ORM INSERT, as a control: one flush per commit
        SmsDelivery.objects.create(phone=f"+86138001{i:05d}", backend="control")
    control = wal_syncs() - before
    before = wal_syncs()
    for i in range(n):
        dispatch(f"+86139001{i:05d}")
    records = wal_syncs() - before
    assert SmsDelivery.objects.exclude(backend="control").count() == n
    assert control >= n, control
    # The WAL writer flushes every wal_writer_delay (200 ms) on its own.
    assert records < n // 4, records
