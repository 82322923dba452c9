"""``manage.py smsverify_stats [--days 7 | --hours 24] [--purpose P] [--region R]``:
print the SMS traffic counters as tables.

The same figures as the admin's *SMS traffic* page, read from the
verification store (see :mod:`django_smsverify.stats`): per UTC day (or
hour) the codes sent, notices sent, codes verified, the conversion (verified
÷ sent), the sends refused and those that failed; then the totals by purpose
and by region, the refusals by limit and the failures by provider and error
code. It exits with status 1 when the store does not answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from unicodedata import east_asian_width

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_smsverify import stats, traffic
from django_smsverify.charts import percent
from django_smsverify.exceptions import ServiceUnavailable
from django_smsverify.traffic import Figures

_REGION = re.compile(r"[A-Z]{2}")


class Command(BaseCommand):
    """Print the traffic counters of the last ``--days`` UTC days (default 7,
    at most 31) or ``--hours`` UTC hours (at most 49), optionally of one
    ``--purpose`` or ``--region`` only."""

    help = (
        "Print the SMS traffic counters (codes sent, notices, codes verified, conversion, "
        "refused and failed sends) per UTC day or hour, then by purpose, by region, by "
        "limit and by provider error code."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        span = parser.add_mutually_exclusive_group()
        span.add_argument(
            "--days",
            type=int,
            default=None,
            help=(
                f"The last DAYS UTC days, today included (default: 7, at most {traffic.MAX_DAYS})."
            ),
        )
        span.add_argument(
            "--hours",
            type=int,
            default=None,
            help=(
                f"The last HOURS UTC hours, this one included, instead of days "
                f"(at most {traffic.MAX_HOURS})."
            ),
        )
        parser.add_argument(
            "--purpose", default=None, help="Count this purpose only (register, login, ...)."
        )
        parser.add_argument(
            "--region", default=None, help="Count this region only (CN, US, ...; ZZ: unknown)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days, hours = options["days"], options["hours"]
        if hours is not None and not 1 <= hours <= traffic.MAX_HOURS:
            raise CommandError(
                _("--hours must be from 1 to %(max)d (the store keeps %(max)d hours).")
                % {"max": traffic.MAX_HOURS}
            )
        if hours is None:
            days = 7 if days is None else days
            if not 1 <= days <= traffic.MAX_DAYS:
                raise CommandError(
                    _("--days must be from 1 to %(max)d (the store keeps %(max)d days).")
                    % {"max": traffic.MAX_DAYS}
                )
        region = options["region"]
        if region is not None:
            region = region.strip().upper()
            if not _REGION.fullmatch(region):
                raise CommandError(
                    _("--region must be a two-letter region code such as CN; got %(value)s.")
                    % {"value": repr(options["region"])}
                )
        purpose = options["purpose"] or None

        if not stats.enabled():
            self.stderr.write(
                self.style.WARNING(
                    _("Counting is off (SMSVERIFY['STATS'] is False): nothing new is counted.")
                )
            )
        try:
            summary = traffic.read(days=days, hours=hours, purpose=purpose, region=region)
        except ServiceUnavailable:
            raise CommandError(
                _(
                    "The verification store (SMSVERIFY['CACHE']) is not answering, so the "
                    "figures cannot be read."
                )
            ) from None

        first, last = summary.periods[0].key, summary.periods[-1].key
        if hours is not None:
            heading = ngettext(
                "SMS traffic, the last %(count)d UTC hour (%(first)s to %(last)s)",
                "SMS traffic, the last %(count)d UTC hours (%(first)s to %(last)s)",
                hours,
            ) % {
                "count": hours,
                "first": first,
                "last": last,
            }
        else:
            heading = ngettext(
                "SMS traffic, the last %(count)d UTC day (%(first)s to %(last)s)",
                "SMS traffic, the last %(count)d UTC days (%(first)s to %(last)s)",
                days,
            ) % {
                "count": days,
                "first": first,
                "last": last,
            }
        filters = [
            _("purpose %(purpose)s") % {"purpose": purpose} if purpose else "",
            _("region %(region)s") % {"region": region} if region else "",
        ]
        if any(filters):
            heading += " · " + ", ".join(f for f in filters if f)
        self.stdout.write(self.style.MIGRATE_HEADING(heading))
        if summary.empty:
            self.stdout.write(_("No SMS traffic was counted in this period."))

        key = _("Hour (UTC)") if summary.hourly else _("Day (UTC)")
        self._table(_figures_table(key, summary.periods, summary.total))
        self._section(_("By purpose"), _figures_table(_("Purpose"), summary.by_purpose))
        self._section(_("By region"), _figures_table(_("Region"), summary.by_region))
        self._section(_("Sends refused, by limit"), _counts_table(_("Limit"), summary.refused))
        self._section(
            _("Failed sends, by provider and error code"),
            _counts_table(_("Provider:error code"), summary.failed),
        )

    def _section(self, title: str, rows: list[list[str]]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(title))
        if len(rows) == 1:
            self.stdout.write(_("(none)"))
        else:
            self._table(rows)

    def _table(self, rows: list[list[str]]) -> None:
        for line in format_table(rows):
            self.stdout.write(line)


def _figures_table(
    key: str, rows: Sequence[Figures], total: Figures | None = None
) -> list[list[str]]:
    table = [
        [
            key,
            _("Codes sent"),
            _("Notices"),
            _("Codes verified"),
            _("Conversion"),
            _("Refused"),
            _("Failed"),
        ]
    ]
    labelled = [(f.key or _("(none)"), f) for f in rows]
    if total is not None:
        labelled.append((_("Total"), total))
    for label, f in labelled:
        table.append(
            [
                label,
                str(f.sent),
                str(f.notice),
                str(f.verified),
                percent(f.conversion),
                str(f.refused),
                str(f.failed),
            ]
        )
    return table


def _counts_table(key: str, rows: Sequence[tuple[str, int]]) -> list[list[str]]:
    return [[key, _("Count")], *([label or _("(none)"), str(count)] for label, count in rows)]


def _width(text: str) -> int:
    # Chinese headings take two columns of a terminal per character.
    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def format_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` (the first one the headings) as lines of aligned columns: the
    first column to the left, the others (figures) to the right."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            cells.append(cell + pad if i == 0 else pad + cell)
        lines.append("  ".join(cells).rstrip())
    return lines
