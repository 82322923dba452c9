"""``manage.py smsverify_import_phones --field FIELD``: copy numbers kept on the user model
into the app's :class:`~django_smsverify.models.PhoneNumber` table.

Sites that began with tutorial code keep a ``mobile`` column of national
digits on their user model. This command reads that column, normalises every
value to E.164 and creates one verified ``PhoneNumber`` per user, so those
users can log in by SMS at once. It is safe to run again: rows already
imported are skipped, and nothing that exists is ever changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import phonenumbers
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Field, Model
from django.utils import timezone
from django.utils.translation import gettext as _

from django_smsverify.conf import app_settings
from django_smsverify.exceptions import InvalidPhoneNumber, UnsupportedRegion
from django_smsverify.models import PhoneNumber
from django_smsverify.phone import normalize

# A batch is re-read and retried when another process inserts a clashing
# PhoneNumber (a sign-up while the import runs) between our read and our write.
BATCH_ATTEMPTS = 3


@dataclass
class Totals:
    """The counts the summary line reports."""

    rows: int = 0
    imported: int = 0
    already: int = 0
    empty: int = 0
    problems: int = 0


@dataclass
class BatchResult:
    """What one batch found; applied to the run's totals only once it committed."""

    last_pk: Any = None
    rows: int = 0
    empty: int = 0
    already: int = 0
    new: list[tuple[Any, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Command(BaseCommand):
    """Import the phone numbers kept in a user-model field into ``PhoneNumber``.

    Users are walked in primary-key order, a batch at a time, reading only the
    primary key and the field. Every value goes through
    :func:`django_smsverify.phone.normalize` in ``--region``. A user whose
    value is empty is skipped; one whose value is not a mobile number of an
    allowed region, whose number belongs to another user, or who already has
    a different ``PhoneNumber`` is reported and left alone. The rest get a
    ``PhoneNumber`` with ``verified_at`` set to now. Exits with status 0 when
    rows were reported; bad arguments raise :class:`CommandError`.
    """

    help = (
        "Create a verified PhoneNumber for every user from the numbers kept in a field of "
        "the user model (such as a tutorial's 'mobile'). Rows that cannot be imported are "
        "listed with the user's id and the reason; running it again imports only what is new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--field",
            required=True,
            help="The user-model field holding the numbers, such as 'mobile'.",
        )
        parser.add_argument(
            "--region",
            default=None,
            help=(
                "Region in which numbers without a leading + are read "
                "(default: SMSVERIFY['DEFAULT_REGION'])."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every row and report what would happen, without writing anything.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="Users read and written per query and transaction (default: 2000).",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database to read users from and write numbers to (default: 'default').",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        source = self._source_field(user_model, options["field"])
        region = self._region(options["region"])
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        database: str = options["database"]
        if database not in connections:
            raise CommandError(_("Unknown database '%(alias)s'.") % {"alias": database})
        dry_run: bool = options["dry_run"]
        verbose = options["verbosity"] >= 1

        if verbose:
            if dry_run:
                heading = _(
                    "Checking phone numbers in %(model)s.%(field)s (region %(region)s); "
                    "dry run, nothing will be written"
                )
            else:
                heading = _("Importing phone numbers from %(model)s.%(field)s (region %(region)s)")
            self.stdout.write(
                self.style.MIGRATE_HEADING(
                    heading
                    % {"model": user_model._meta.label, "field": source.name, "region": region}
                )
            )
            allowed = app_settings.ALLOWED_REGIONS
            if allowed is not None and region not in allowed:
                self.stdout.write(
                    self.style.WARNING(
                        _(
                            "Region %(region)s is not in SMSVERIFY['ALLOWED_REGIONS']: "
                            "numbers without a leading + will all be refused."
                        )
                        % {"region": region}
                    )
                )

        # Numbers this run has assigned so far, with their users. The table
        # answers for earlier batches too once they are written, but a dry run
        # writes nothing, and this map is what names the first user of a
        # duplicate pair in both modes.
        claimed: dict[str, Any] = {}
        totals = Totals()
        started = time.perf_counter()
        last_pk: Any = None
        while True:
            batch = self._run_batch(
                user_model, source, region, database, last_pk, batch_size, claimed, dry_run
            )
            if batch.rows == 0:
                break
            last_pk = batch.last_pk
            totals.rows += batch.rows
            totals.empty += batch.empty
            totals.already += batch.already
            totals.imported += len(batch.new)
            for user_id, number in batch.new:
                claimed[number] = user_id
            if verbose:
                for line in batch.problems:
                    self.stdout.write(self.style.WARNING(line))
            totals.problems += len(batch.problems)
            if options["verbosity"] >= 2:
                self.stdout.write(
                    _("%(rows)d users read, up to id %(pk)s") % {"rows": totals.rows, "pk": last_pk}
                )
            if batch.rows < batch_size:
                break
        elapsed = time.perf_counter() - started

        if not verbose:
            return
        counts = {
            "rows": totals.rows,
            "imported": totals.imported,
            "already": totals.already,
            "empty": totals.empty,
            "problems": totals.problems,
            "seconds": elapsed,
            "rate": totals.rows / elapsed if elapsed > 0 else 0,
        }
        if dry_run:
            summary = _(
                "Dry run, nothing was written. %(rows)d users: %(imported)d to import, "
                "%(already)d already imported, %(empty)d empty, %(problems)d problems, "
                "in %(seconds).1f s (%(rate).0f rows/s)."
            )
        else:
            summary = _(
                "%(rows)d users: %(imported)d imported, %(already)d already imported, "
                "%(empty)d empty, %(problems)d problems, in %(seconds).1f s (%(rate).0f rows/s)."
            )
        style = self.style.SUCCESS if totals.problems == 0 else self.style.WARNING
        self.stdout.write(style(summary % counts))

    def _source_field(self, user_model: type[Model], name: str) -> Field[Any, Any]:
        candidates = sorted(
            f.name
            for f in user_model._meta.get_fields()
            if getattr(f, "concrete", False) and not f.is_relation and not f.primary_key
        )
        try:
            found = user_model._meta.get_field(name)
        except FieldDoesNotExist:
            found = None
        # Relations would hand back ids and many-to-many fields a row per
        # link; neither is a phone number.
        if found is None or not getattr(found, "concrete", False) or found.is_relation:
            raise CommandError(
                _(
                    "%(model)s has no field '%(field)s' to read numbers from. "
                    "Choose one of: %(choices)s."
                )
                % {
                    "model": user_model._meta.label,
                    "field": name,
                    "choices": ", ".join(candidates),
                }
            )
        return cast("Field[Any, Any]", found)

    def _region(self, value: str | None) -> str:
        region = (value or app_settings.DEFAULT_REGION).upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise CommandError(
                _("Unknown region '%(region)s': give a two-letter ISO code such as CN.")
                % {"region": value or region}
            )
        return region

    def _run_batch(
        self,
        user_model: type[Model],
        source: Field[Any, Any],
        region: str,
        database: str,
        last_pk: Any,
        batch_size: int,
        claimed: dict[str, Any],
        dry_run: bool,
    ) -> BatchResult:
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                with transaction.atomic(using=database):
                    # The base manager: a default manager that hides some users
                    # (soft-deleted, inactive) would leave their numbers free
                    # for someone else, and they are still users.
                    users = user_model._base_manager.using(database).order_by("pk")
                    if last_pk is not None:
                        users = users.filter(pk__gt=last_pk)
                    rows = list(users.values_list("pk", source.attname)[:batch_size])
                    batch = self._plan(rows, region, database, claimed)
                    if batch.new and not dry_run:
                        now = timezone.now()
                        PhoneNumber.objects.using(database).bulk_create(
                            [
                                PhoneNumber(user_id=user_id, number=number, verified_at=now)
                                for user_id, number in batch.new
                            ]
                        )
                return batch
            except IntegrityError as exc:
                # Someone took a number or deleted a user between our read and
                # our write; the retry reads both again and reports the clash.
                if attempt == BATCH_ATTEMPTS:
                    which = (
                        _("The first batch of users")
                        if last_pk is None
                        else _("The batch of users after id %(pk)s") % {"pk": last_pk}
                    )
                    raise CommandError(
                        _(
                            "%(batch)s failed %(attempts)d times (%(error)s). Batches before "
                            "it are saved; run the command again to go on."
                        )
                        % {"batch": which, "attempts": attempt, "error": exc}
                    ) from exc
        raise AssertionError("unreachable")

    def _plan(
        self,
        rows: Sequence[tuple[Any, Any]],
        region: str,
        database: str,
        claimed: dict[str, Any],
    ) -> BatchResult:
        batch = BatchResult(rows=len(rows), last_pk=rows[-1][0] if rows else None)
        parsed: list[tuple[Any, Any, str]] = []
        for user_id, raw in rows:
            # Tutorial models sometimes store the number as an integer.
            text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
            if text is None or (isinstance(text, str) and not text.strip()):
                batch.empty += 1
                continue
            try:
                parsed.append((user_id, raw, normalize(text, region)))
            except UnsupportedRegion:
                batch.problems.append(
                    self._problem(
                        user_id, raw, _("a mobile number of a region outside ALLOWED_REGIONS")
                    )
                )
            except InvalidPhoneNumber:
                batch.problems.append(self._problem(user_id, raw, _("not a valid mobile number")))

        numbers_by_user = dict(
            _in_chunks(
                PhoneNumber.objects.using(database),
                "user_id",
                [user_id for user_id, _raw, _number in parsed],
                ("user_id", "number"),
                database,
            )
        )
        users_by_number = dict(
            _in_chunks(
                PhoneNumber.objects.using(database),
                "number",
                [number for _user_id, _raw, number in parsed],
                ("number", "user_id"),
                database,
            )
        )
        in_batch: dict[str, Any] = {}
        for user_id, raw, number in parsed:
            existing = numbers_by_user.get(user_id)
            if existing == number:
                batch.already += 1
                continue
            if existing is not None:
                batch.problems.append(
                    self._problem(
                        user_id,
                        raw,
                        _("conflicts with the existing number %(number)s, left unchanged")
                        % {"number": existing},
                    )
                )
                continue
            owner = users_by_number.get(number, claimed.get(number, in_batch.get(number)))
            if owner is not None:
                batch.problems.append(
                    self._problem(
                        user_id,
                        raw,
                        _("%(number)s is a duplicate of user %(owner)s")
                        % {"number": number, "owner": owner},
                    )
                )
                continue
            in_batch[number] = user_id
            batch.new.append((user_id, number))
        return batch

    def _problem(self, user_id: Any, raw: Any, reason: str) -> str:
        return _("user %(id)s: %(value)s: %(reason)s") % {
            "id": user_id,
            "value": repr(raw),
            "reason": reason,
        }


def _in_chunks(
    queryset: Any, lookup: str, values: list[Any], fields: tuple[str, str], database: str
) -> Iterator[tuple[Any, Any]]:
    """``values_list(*fields)`` of rows whose ``lookup`` is in ``values``, in
    queries that stay under the database's limit on parameters."""
    # SQLite builds before 3.32 allow 999 parameters per statement; a batch
    # size above that must not turn into a failing IN clause.
    size = connections[database].features.max_query_params or len(values) or 1
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        yield from queryset.filter(**{f"{lookup}__in": chunk}).values_list(*fields)
