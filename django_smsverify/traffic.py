"""The traffic counters of :mod:`django_smsverify.stats`, summed up for people.

One :class:`Summary` holds what the admin's *SMS traffic* page and
``manage.py smsverify_stats`` show: the figures of each day (or hour), their
totals by purpose and by region, the refusals by limit and the failures by
provider and error code, all restricted to one purpose or region when asked.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django_smsverify import stats
from django_smsverify.conf import PURPOSES
from django_smsverify.stats import Count, Period

#: How many days and hours the store keeps (``stats.DAY_TTL_MS``, ``HOUR_TTL_MS``).
MAX_DAYS = 31
MAX_HOURS = 49


@dataclass(frozen=True)
class Figures:
    """The counts of one day, hour, purpose or region (``key`` says which:
    ``2025-05-01``, ``2025-05-01 13:00``, ``login``, ``CN``).

    ``start`` is the UTC start of a day or an hour, ``None`` for the others.
    """

    key: str
    sent: int = 0
    notice: int = 0
    verified: int = 0
    refused: int = 0
    failed: int = 0
    start: dt.datetime | None = None

    @property
    def conversion(self) -> float | None:
        """Codes verified ÷ codes sent (notices are not codes), or ``None``
        when none were sent. It can pass 1 when codes sent in one period are
        used in the next."""
        return self.verified / self.sent if self.sent else None

    @property
    def empty(self) -> bool:
        """Whether nothing at all was counted."""
        return not (self.sent or self.notice or self.verified or self.refused or self.failed)


def figures(key: str, counts: Iterable[Count], start: dt.datetime | None = None) -> Figures:
    """The :class:`Figures` of ``counts``, summed by event."""
    totals: Counter[str] = Counter()
    for count in counts:
        totals[count.event] += count.count
    return Figures(
        key,
        sent=totals["sent"],
        notice=totals["notice"],
        verified=totals["verified"],
        refused=totals["refused"],
        failed=totals["failed"],
        start=start,
    )


@dataclass(frozen=True)
class Summary:
    """Everything counted over some days or hours, as people read it."""

    #: One per day (or hour), oldest first, empty ones included.
    periods: list[Figures]
    #: The sum of ``periods``.
    total: Figures
    #: Totals per purpose (the app's purposes first) and per region (most sent first).
    by_purpose: list[Figures]
    by_region: list[Figures]
    #: ``(limit, count)`` of the refused sends and ``(provider:code, count)``
    #: of the failed ones, most first.
    refused: list[tuple[str, int]]
    failed: list[tuple[str, int]]
    #: Every purpose and region counted in the period, whatever the filters
    #: (what a filter can choose from).
    purposes: list[str]
    regions: list[str]
    hourly: bool = False

    @property
    def empty(self) -> bool:
        """Whether nothing at all was counted (with the filters applied)."""
        return self.total.empty


def summarise(
    periods: Sequence[Period],
    *,
    purpose: str | None = None,
    region: str | None = None,
    hourly: bool = False,
) -> Summary:
    """Sum up ``periods``, counting only ``purpose`` and ``region`` when given."""
    seen_purposes = {c.purpose for p in periods for c in p.counts}
    seen_regions = {c.region for p in periods for c in p.counts}

    def wanted(c: Count) -> bool:
        return (purpose is None or c.purpose == purpose) and (region is None or c.region == region)

    kept = [[c for c in p.counts if wanted(c)] for p in periods]
    every = [c for counts in kept for c in counts]
    label = "%Y-%m-%d %H:00" if hourly else "%Y-%m-%d"
    rows = [
        figures(p.start.strftime(label), counts, p.start)
        for p, counts in zip(periods, kept, strict=True)
    ]
    by_purpose = [
        figures(name, [c for c in every if c.purpose == name])
        for name in sorted({c.purpose for c in every}, key=_purpose_order)
    ]
    by_region = sorted(
        (
            figures(name, [c for c in every if c.region == name])
            for name in {c.region for c in every}
        ),
        key=lambda f: (-f.sent, -f.notice, f.key),
    )
    return Summary(
        periods=rows,
        total=figures("", every),
        by_purpose=by_purpose,
        by_region=by_region,
        refused=_by_detail(every, "refused"),
        failed=_by_detail(every, "failed"),
        purposes=sorted(seen_purposes, key=_purpose_order),
        regions=sorted(seen_regions),
        hourly=hourly,
    )


def read(
    *,
    days: int | None = None,
    hours: int | None = None,
    purpose: str | None = None,
    region: str | None = None,
) -> Summary:
    """Read the last ``days`` UTC days (or ``hours`` UTC hours) from the store
    and sum them up. One store round trip; raises ``ServiceUnavailable`` when
    the store is down."""
    if hours is not None:
        return summarise(stats.hours(hours), purpose=purpose, region=region, hourly=True)
    return summarise(stats.days(30 if days is None else days), purpose=purpose, region=region)


def _by_detail(counts: Iterable[Count], event: str) -> list[tuple[str, int]]:
    totals: Counter[str] = Counter()
    for count in counts:
        if count.event == event:
            totals[count.detail] += count.count
    return sorted(((k, v) for k, v in totals.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))


def _purpose_order(name: str) -> tuple[int, str]:
    return (PURPOSES.index(name) if name in PURPOSES else len(PURPOSES), name)
