"""The delivery record of a synchronous send: one row per dispatch, written in its
own transaction after the SMS has gone, or inside the site's transaction when
the send happens in one.

The suite runs this file on SQLite and, with SMSVERIFY_TEST_DB=postgres (as
tox does), on PostgreSQL, where the record's commit does not wait for the WAL
flush (tests/postgres/test_records_commit.py checks that).
"""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.db import connection, transaction

import django_smsverify
from django_smsverify import delivery
from django_smsverify.exceptions import SmsSendError
from django_smsverify.models import SmsDelivery
from tests.helpers import last_code

PHONE = "+8613800138000"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_limits():
    # Earlier tests' sends to the same number must not hold this one back.
    caches["default"].clear()


def dispatch(phone: str = PHONE) -> None:
    delivery.dispatch(delivery.build_message(phone, "123456", "login", 300))


def test_sent_record_outside_a_transaction(client, settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    assert connection.get_autocommit()
    response = client.post("/accounts/phone/send-code/", {"phone": PHONE, "purpose": "register"})
    assert response.status_code == 200
    # Every column, as written by this path's INSERT (raw SQL on PostgreSQL).
    row = SmsDelivery.objects.values().get()
    assert last_code() not in " ".join(str(v) for v in row.values())
    row.pop("id")
    sent_at, created_at, updated_at = (row.pop(k) for k in ("sent_at", "created_at", "updated_at"))
    assert row == {
        "phone": PHONE,
        "purpose": "register",
        "backend": "django_smsverify.backends.locmem.SmsBackend",
        "status": "sent",
        "provider_message_id": django_smsverify.outbox[0].status.message_id,
        "provider": "locmem",
        "providers_tried": "",
        "error_code": "",
        "error_message": "",
        "transient": False,
        "attempts": 1,
    }
    assert sent_at is not None
    assert abs((created_at - sent_at).total_seconds()) < 5
    assert abs((updated_at - sent_at).total_seconds()) < 5


def test_failed_record_outside_a_transaction(settings):
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    with pytest.raises(SmsSendError):
        dispatch()
    record = SmsDelivery.objects.get()
    assert (record.status, record.error_code, record.transient, record.sent_at) == (
        "failed",
        "TPL",
        False,
        None,
    )
    assert "template not approved" in record.error_message


def test_record_commits_and_rolls_back_with_the_sites_transaction():
    with transaction.atomic():
        dispatch()
        assert SmsDelivery.objects.count() == 1
        if connection.vendor == "postgresql":
            # The record's own durability setting must not leak into the
            # site's transaction: its writes still wait for the flush.
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                assert cursor.fetchone()[0] == "on"
    dispatch("+8613800138001")

    @transaction.atomic
    def failing_view() -> None:
        dispatch("+8613800138002")
        raise RuntimeError("the site's view fails after the send")

    with pytest.raises(RuntimeError):
        failing_view()
    assert sorted(SmsDelivery.objects.values_list("phone", flat=True)) == [
        PHONE,
        "+8613800138001",
    ]
    assert len(django_smsverify.outbox) == 3


def test_queued_record_then_its_outcome():
    # The Celery path: a "queued" row from the request, updated by the worker.
    from django_smsverify.message import SENT, SmsStatus
    from django_smsverify.records import DatabaseRecorder

    recorder = DatabaseRecorder()
    message = delivery.build_message(PHONE, "123456", "register", 300)
    first = recorder.queued(message, "some.Backend")
    second = recorder.queued(message, "some.Backend")
    assert first is not None
    assert second != first
    record = SmsDelivery.objects.get(pk=first)
    assert (record.status, record.attempts, record.backend) == ("queued", 0, "some.Backend")
    assert record.created_at is not None
    recorder.attempted(first)
    recorder.finished(first, SmsStatus(status=SENT, message_id="m-1"), None)
    record.refresh_from_db()
    assert (record.status, record.attempts, record.provider_message_id) == ("sent", 1, "m-1")
    assert SmsDelivery.objects.get(pk=second).status == "queued"
