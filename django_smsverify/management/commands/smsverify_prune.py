"""``manage.py smsverify_prune [--older-than 30d] [--dry-run]``: delete old
:class:`~django_smsverify.models.SmsDelivery` rows.

Delivery records hold the numbers that asked for a code, users or not, and
the app writes one per SMS and never deletes any. This command deletes those
created before a cutoff (``--older-than``, or
``SMSVERIFY["DELIVERY_RECORDS_RETENTION"]`` days), whatever their status, a
batch at a time, each batch in a transaction of its own, so the table is never
locked for long while a site keeps sending. Run it daily (cron, Celery beat);
see ``docs/security.rst``.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from django_smsverify.conf import app_settings
from django_smsverify.models import SmsDelivery

#: Rows deleted per batch unless ``--batch-size`` says otherwise: a few
#: milliseconds of work per transaction on PostgreSQL or SQLite.
DEFAULT_BATCH_SIZE = 1000

_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DURATION = re.compile(r"([0-9]+)([dhms]?)")


def parse_age(value: str) -> timedelta:
    """The age ``value`` names: ``30d``, ``12h``, ``90m``, ``45s``, or a whole
    number of days (``30``). Raises :class:`CommandError` for anything else,
    and for ages of zero."""
    text = value.strip().lower()
    match = _DURATION.fullmatch(text)
    if match is None:
        raise CommandError(
            _(
                "--older-than %(value)s is not an age: give a whole number followed by d "
                "(days), h (hours), m (minutes) or s (seconds), such as 30d or 12h; "
                "a number alone is days."
            )
            % {"value": repr(value)}
        )
    number, unit = int(match.group(1)), match.group(2) or "d"
    if number == 0:
        raise CommandError(
            _("--older-than must be more than zero; got %(value)s.") % {"value": repr(value)}
        )
    try:
        return timedelta(**{_UNITS[unit]: number})
    except OverflowError:
        raise CommandError(
            _("--older-than %(value)s is too long ago.") % {"value": repr(value)}
        ) from None


def retention_setting() -> timedelta | None:
    """``SMSVERIFY["DELIVERY_RECORDS_RETENTION"]`` as an age, or ``None`` when
    the site set ``None``. Raises :class:`CommandError` for a value the system
    check refuses (``smsverify.E015``): ``call_command`` skips the checks."""
    from django_smsverify.checks import MAX_RETENTION_DAYS, retention_is_valid

    days = app_settings.DELIVERY_RECORDS_RETENTION
    if not retention_is_valid(days):
        raise CommandError(
            _(
                "SMSVERIFY['DELIVERY_RECORDS_RETENTION'] must be a whole number of days "
                "from 1 to %(max)d or None; got %(value)s."
            )
            % {"max": MAX_RETENTION_DAYS, "value": repr(days)}
        )
    return None if days is None else timedelta(days=days)


class Command(BaseCommand):
    """Delete ``SmsDelivery`` rows created before a cutoff, in short batches.

    The cutoff is now minus ``--older-than`` (default: the
    ``DELIVERY_RECORDS_RETENTION`` setting, 30 days), fixed when the command
    starts. Rows created at or after it are never touched. Rows are deleted in
    primary-key order, ``--batch-size`` at a time: each batch selects the ids,
    then deletes them, in one transaction of its own, so other writers wait for
    one batch at most and an interrupted run keeps what it deleted (run it
    again to go on). Queued rows are deleted like the others: a record older
    than the longest ``CODE_TTL`` (a day) belongs to a code that has expired.
    ``--dry-run`` counts the rows and deletes nothing.
    """

    help = (
        "Delete SMS delivery records (SmsDelivery rows) created more than --older-than ago "
        "(default: SMSVERIFY['DELIVERY_RECORDS_RETENTION'] days), whatever their status, in "
        "batches of short transactions. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            default=None,
            metavar="AGE",
            help=(
                "Delete records created more than AGE ago: 30d, 12h, 90m, 45s, or a number "
                "of days (default: SMSVERIFY['DELIVERY_RECORDS_RETENTION'], 30 days)."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the records that would be deleted, without deleting anything.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Records deleted per transaction (default: {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--sleep",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Pause between batches, to leave the database to others (default: 0).",
        )
        parser.add_argument(
            "--database",
            default=None,
            help="The database to delete from (default: where SmsDelivery rows are written).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] is not None:
            age = parse_age(options["older_than"])
        else:
            setting = retention_setting()
            if setting is None:
                raise CommandError(
                    _(
                        "SMSVERIFY['DELIVERY_RECORDS_RETENTION'] is None: give --older-than, "
                        "such as --older-than 30d."
                    )
                )
            age = setting
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        pause: float = options["sleep"]
        if not (math.isfinite(pause) and pause >= 0):
            raise CommandError(_("--sleep must be 0 or more seconds."))
        database: str = options["database"] or router.db_for_write(SmsDelivery)
        if database not in connections:
            raise CommandError(_("Unknown database '%(alias)s'.") % {"alias": database})
        try:
            cutoff = timezone.now() - age
        except OverflowError:
            raise CommandError(
                _("--older-than %(value)s is too long ago.")
                % {"value": repr(options["older_than"])}
            ) from None
        verbose = options["verbosity"] >= 1
        when = _display(cutoff)
        # The base manager: a default manager that hides some rows must not
        # keep them from being deleted.
        old = SmsDelivery._base_manager.using(database).filter(created_at__lt=cutoff)

        if options["dry_run"]:
            count = old.count()
            if verbose:
                self.stdout.write(
                    self.style.SUCCESS(
                        _(
                            "Dry run, nothing was deleted. Delivery records created before "
                            "%(cutoff)s that would be deleted: %(count)d."
                        )
                        % {"cutoff": when, "count": count}
                    )
                )
            return

        if verbose:
            self.stdout.write(
                self.style.MIGRATE_HEADING(
                    _("Deleting delivery records created before %(cutoff)s, %(size)d at a time")
                    % {"cutoff": when, "size": batch_size}
                )
            )
        started = time.perf_counter()
        deleted = batches = 0
        last_pk: Any = None
        while True:
            with transaction.atomic(using=database):
                # Walking on from the last id, rather than from the start each
                # time, keeps PostgreSQL from stepping over the index entries
                # of rows deleted in earlier batches (vacuum has not run yet).
                rows = old.order_by("pk")
                if last_pk is not None:
                    rows = rows.filter(pk__gt=last_pk)
                ids = list(rows.values_list("pk", flat=True)[:batch_size])
                if not ids:
                    break
                # By range rather than by an IN list of every id, which would
                # run into SQLite's limit on query parameters with large
                # batches. The cutoff applies again, so the range can only
                # hold the rows just chosen (ids only grow, created_at never
                # changes) and no row is deleted for any other reason.
                count, _per_model = old.filter(pk__gte=ids[0], pk__lte=ids[-1]).delete()
            last_pk = ids[-1]
            deleted += count
            batches += 1
            if options["verbosity"] >= 2:
                self.stdout.write(
                    _("%(deleted)d deleted so far, up to id %(pk)s")
                    % {"deleted": deleted, "pk": last_pk}
                )
            if len(ids) < batch_size:
                break
            if pause:
                time.sleep(pause)
        if verbose:
            self.stdout.write(
                self.style.SUCCESS(
                    _(
                        "Delivery records created before %(cutoff)s deleted: %(count)d "
                        "(batches: %(batches)d, %(seconds).1f s)."
                    )
                    % {
                        "cutoff": when,
                        "count": deleted,
                        "batches": batches,
                        "seconds": time.perf_counter() - started,
                    }
                )
            )


def _display(moment: datetime) -> str:
    """``moment`` to the second, in the current time zone when it is aware."""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.isoformat(sep=" ", timespec="seconds")
