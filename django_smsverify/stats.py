"""Traffic counters: codes sent and verified, notices, refusals and failures.

Counted in the verification store (``SMSVERIFY["CACHE"]``), one hash per UTC
hour and one per UTC day, so every process of a site adds to the same figures
and the store's expiry keeps them small (hours live 49 hours, days 31 days).
A field is ``event|purpose|region|detail``:

- ``sent``: a code SMS handed to delivery; ``notice``: a notice SMS (sent
  instead of a code where a code would reveal an account; see
  ``PREVENT_ENUMERATION``); ``verified``: a code that passed its check;
- ``refused``: a send refused, ``detail`` naming the limit (``cooldown``,
  ``phone_hour``, ``ip_hour``, ``guard:prefix_burst``...);
- ``failed``: a send the provider did not take, ``detail`` being
  ``provider:error code``.

:func:`days` and :func:`hours` read them back for the admin page, the
``smsverify_stats`` command and the Prometheus collector. With
``SMSVERIFY["STATS"] = False`` nothing is counted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django_smsverify.conf import app_settings
from django_smsverify.store import get_store
from django_smsverify.store.base import DAY_MS, HOUR_MS, now_ms

logger = logging.getLogger("django_smsverify.stats")

EVENTS = ("sent", "notice", "verified", "refused", "failed")

#: How long the store keeps each hour and each day.
HOUR_TTL_MS = 49 * HOUR_MS
DAY_TTL_MS = 31 * DAY_MS

#: One hash tag for every counter and every key of the pumping guard: a step
#: touches several of them at once, so on Redis Cluster they must share a slot.
OPS_TAG = "smsverify:{ops}"


def day_key(when_ms: int) -> str:
    """Store key of the UTC day holding ``when_ms``."""
    return f"{OPS_TAG}:d:{_utc(when_ms):%Y%m%d}"


def hour_key(when_ms: int) -> str:
    """Store key of the UTC hour holding ``when_ms``."""
    return f"{OPS_TAG}:h:{_utc(when_ms):%Y%m%d%H}"


def _utc(when_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(when_ms / 1000, tz=dt.timezone.utc)


def field_name(event: str, purpose: str = "", region: str = "", detail: str = "") -> str:
    """The hash field of one counter (``|`` cannot occur in its parts)."""
    parts = (event, purpose, region, detail)
    return "|".join(str(p).replace("|", "/") for p in parts)


@dataclass(frozen=True)
class Count:
    """One counter of one period."""

    event: str
    purpose: str
    region: str
    detail: str
    count: int


@dataclass
class Period:
    """The counters of one UTC hour or day, starting at ``start``."""

    start: dt.datetime
    counts: list[Count] = field(default_factory=list)

    def total(
        self,
        event: str,
        *,
        purpose: str | None = None,
        region: str | None = None,
        detail: str | None = None,
    ) -> int:
        """The sum of ``event``'s counters, optionally of one purpose, region or detail."""
        return sum(
            c.count
            for c in self.counts
            if c.event == event
            and (purpose is None or c.purpose == purpose)
            and (region is None or c.region == region)
            and (detail is None or c.detail == detail)
        )

    def conversion(self, **filters: str) -> float | None:
        """Codes verified ÷ codes sent, or ``None`` when none were sent."""
        sent = self.total("sent", **filters)
        return self.total("verified", **filters) / sent if sent else None


def _parse(raw: dict[str, int]) -> list[Count]:
    counts = []
    for name, value in sorted(raw.items()):
        parts = name.split("|")
        # The day hash also holds the guard's per-region totals ("rs|CN").
        if len(parts) != 4 or parts[0] not in EVENTS or value <= 0:
            continue
        counts.append(Count(parts[0], parts[1], parts[2], parts[3], int(value)))
    return counts


def days(count: int = 30, *, now: int | None = None) -> list[Period]:
    """The last ``count`` UTC days, today included, oldest first (one round trip)."""
    now = now_ms() if now is None else now
    starts = [now - (now % DAY_MS) - i * DAY_MS for i in reversed(range(count))]
    return _read(starts, day_key, now)


def hours(count: int = 24, *, now: int | None = None) -> list[Period]:
    """The last ``count`` UTC hours, the current one included, oldest first."""
    now = now_ms() if now is None else now
    starts = [now - (now % HOUR_MS) - i * HOUR_MS for i in reversed(range(count))]
    return _read(starts, hour_key, now)


def _read(starts: list[int], key_of: object, now: int) -> list[Period]:
    keys = [key_of(s) for s in starts]  # type: ignore[operator]
    raws = get_store().ops_read(keys, now)
    return [Period(_utc(s), _parse(raw)) for s, raw in zip(starts, raws, strict=True)]


def increments(
    event: str, purpose: str, region: str, detail: str = "", *, when: int, delta: int = 1
) -> list[tuple[str, str, int]]:
    """The hash changes that count one ``event`` at ``when`` (hour and day)."""
    name = field_name(event, purpose, region, detail)
    return [(day_key(when), name, delta), (hour_key(when), name, delta)]


def ttls(when: int) -> dict[str, int]:
    """Expiry of the hour and day hashes holding ``when``, counted from ``when``."""
    return {day_key(when): DAY_TTL_MS, hour_key(when): HOUR_TTL_MS}


def record(
    event: str,
    *,
    purpose: str = "",
    region: str = "",
    detail: str = "",
    count: int = 1,
    when: dt.datetime | None = None,
) -> None:
    """Count ``count`` occurrences of ``event`` (one round trip).

    The app counts its own events; this is public so that a site (or a test)
    can count events of its own, or seed figures at a past ``when``. Store
    errors propagate (``ServiceUnavailable``).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
    at = now_ms() if when is None else int(when.timestamp() * 1000)
    get_store().ops_add(
        increments(event, purpose, region, detail, when=at, delta=count), ttls(at), at
    )


def count_quietly(
    changes: Iterable[tuple[str, str, int]],
    expiry: dict[str, int],
    when: int,
    *,
    deletes: Iterable[str] = (),
) -> None:
    """Apply counter changes (and the ``expiry`` of their keys, in ms; and
    delete ``deletes``), logging instead of raising: a counter must never
    turn a send or a check that worked into an error."""
    changes = list(changes)
    deletes = list(deletes)
    if not changes and not deletes:
        return
    try:
        get_store().ops_add(changes, expiry, when, deletes)
    except Exception:
        logger.exception("could not update the SMS traffic counters")


def enabled() -> bool:
    """Whether ``SMSVERIFY["STATS"]`` is on."""
    return app_settings.STATS
