"""``manage.py smsverify_prune``: deletes old ``SmsDelivery`` rows, and only those.

The PostgreSQL run on 100,000 rows, with a writer next to it, is
``tests/postgres/test_prune_pg.py``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import checks
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_smsverify import checks as smsverify_checks
from django_smsverify.models import SmsDelivery

pytestmark = pytest.mark.django_db


def record(age: timedelta, status: str = "sent") -> int:
    """A delivery record created ``age`` ago; returns its id."""
    row = SmsDelivery.objects.create(phone="+8613800138000", backend="test", status=status)
    # created_at is auto_now_add: only an UPDATE can put it in the past.
    SmsDelivery.objects.filter(pk=row.pk).update(created_at=timezone.now() - age)
    return row.pk


def remaining() -> set[int]:
    return set(SmsDelivery.objects.values_list("pk", flat=True))


def prune(*args: str) -> str:
    out = StringIO()
    call_command("smsverify_prune", *args, stdout=out)
    return out.getvalue()


def test_deletes_records_older_than_the_age_whatever_their_status():
    old = {record(timedelta(days=31), status) for status in ("sent", "failed", "queued")}
    new = {record(timedelta(days=29), status) for status in ("sent", "failed", "queued")}
    output = prune("--older-than", "30d")
    assert remaining() == new
    assert not old & remaining()
    assert "deleted: 3 (batches: 1," in output


@pytest.mark.parametrize(
    ("age", "gone", "kept"),
    [
        ("30", timedelta(days=30, minutes=5), timedelta(days=29, hours=23)),  # a number is days
        ("30d", timedelta(days=30, minutes=5), timedelta(days=29, hours=23)),
        ("12h", timedelta(hours=12, minutes=1), timedelta(hours=11, minutes=59)),
        ("90m", timedelta(minutes=91), timedelta(minutes=89)),
        ("45s", timedelta(seconds=60), timedelta(seconds=30)),
        (" 2D ", timedelta(days=2, minutes=1), timedelta(days=1, hours=23)),
    ],
)
def test_age_units(age, gone, kept):
    old, new = record(gone), record(kept)
    prune("--older-than", age)
    assert old not in remaining()
    assert new in remaining()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("30x", "not an age"),
        ("", "not an age"),
        ("d", "not an age"),
        ("-5d", "not an age"),
        ("1.5d", "not an age"),
        ("30 days", "not an age"),
        ("0", "more than zero"),
        ("0h", "more than zero"),
        ("9999999999d", "too long ago"),
        ("2000000d", "too long ago"),  # a valid timedelta, but before year 1
    ],
)
def test_bad_ages_are_refused_and_delete_nothing(value, says):
    kept = record(timedelta(days=400))
    with pytest.raises(CommandError, match=says) as excinfo:
        prune(f"--older-than={value}")  # "=": argparse would take -5d for an option
    assert repr(value) in str(excinfo.value)
    assert kept in remaining()


def test_dry_run_counts_and_deletes_nothing():
    rows = {record(timedelta(days=40)) for _ in range(4)} | {record(timedelta(days=1))}
    output = prune("--older-than", "30d", "--dry-run")
    assert remaining() == rows
    assert "Dry run, nothing was deleted." in output
    assert "that would be deleted: 4." in output


def test_default_age_is_the_setting_30_days():
    old, new = record(timedelta(days=30, hours=1)), record(timedelta(days=29, hours=23))
    prune()
    assert remaining() == {new}
    assert old not in remaining()


def test_the_setting_sets_the_default_and_the_option_wins(settings):
    eight, six, two = record(timedelta(days=8)), record(timedelta(days=6)), record(timedelta(2))
    settings.SMSVERIFY = {"DELIVERY_RECORDS_RETENTION": 7}
    prune()
    assert remaining() == {six, two}
    prune("--older-than", "3d")
    assert remaining() == {two}
    assert eight not in remaining()


def test_setting_none_requires_older_than(settings):
    kept = record(timedelta(days=400))
    settings.SMSVERIFY = {"DELIVERY_RECORDS_RETENTION": None}
    with pytest.raises(CommandError, match="give --older-than"):
        prune()
    assert kept in remaining()
    prune("--older-than", "365d")
    assert kept not in remaining()


def test_invalid_setting_is_refused_by_the_command_too(settings):
    # call_command skips the system checks, so the command checks for itself.
    kept = record(timedelta(days=400))
    settings.SMSVERIFY = {"DELIVERY_RECORDS_RETENTION": "30d"}
    with pytest.raises(CommandError, match="DELIVERY_RECORDS_RETENTION"):
        prune()
    assert kept in remaining()


def test_batches_walk_every_old_row_and_report_progress():
    old = {record(timedelta(days=60)) for _ in range(10)}
    new = {record(timedelta(days=1)) for _ in range(3)}
    output = prune("--older-than", "30d", "--batch-size", "3", "--sleep", "0.001", "-v", "2")
    assert remaining() == new
    progress = re.findall(r"^(\d+) deleted so far, up to id (\d+)$", output, re.M)
    assert [int(deleted) for deleted, _ in progress] == [3, 6, 9, 10]
    assert int(progress[-1][1]) == max(old)
    assert "deleted: 10 (batches: 4," in output


def test_an_exact_multiple_of_the_batch_size():
    for _ in range(4):
        record(timedelta(days=60))
    output = prune("--older-than", "30d", "--batch-size", "2")
    assert remaining() == set()
    assert "deleted: 4 (batches: 2," in output


def test_nothing_to_delete():
    kept = record(timedelta(hours=1))
    output = prune("--older-than", "1d")
    assert remaining() == {kept}
    assert "deleted: 0 (batches: 0," in output


def test_verbosity_0_prints_nothing():
    record(timedelta(days=60))
    assert prune("--older-than", "30d", "-v", "0") == ""
    assert remaining() == set()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--batch-size", "0"), "--batch-size must be at least 1"),
        (("--sleep", "-1"), "--sleep must be 0 or more"),
        (("--sleep", "nan"), "--sleep must be 0 or more"),
        (("--sleep", "inf"), "--sleep must be 0 or more"),
        (("--database", "nope"), "Unknown database 'nope'"),
    ],
)
def test_bad_options_are_refused(args, says):
    kept = record(timedelta(days=400))
    with pytest.raises(CommandError, match=re.escape(says)):
        prune("--older-than", "30d", *args)
    assert kept in remaining()


def test_the_cutoff_is_printed():
    output = prune("--older-than", "1d")
    cutoff = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%d")
    assert f"created before {cutoff} " in output


@pytest.mark.parametrize("value", [0, -1, 1.5, "30d", True, 36_501, {"DAYS": 30}])
def test_e015_invalid_retention(settings, value):
    settings.SMSVERIFY = {"DELIVERY_RECORDS_RETENTION": value}
    messages = smsverify_checks.check_delivery_records_retention()
    assert [m.id for m in messages] == ["smsverify.E015"]
    assert repr(value) in messages[0].msg
    assert "smsverify.E015" in [m.id for m in checks.run_checks()]


@pytest.mark.parametrize("value", [None, 1, 30, 36_500])
def test_e015_valid_retention(settings, value):
    settings.SMSVERIFY = {"DELIVERY_RECORDS_RETENTION": value}
    assert smsverify_checks.check_delivery_records_retention() == []
