"""The SMS-pumping guard, and the counting of sends that goes with it.

SMS pumping (toll fraud): bots ask for codes to ranges of numbers whose
carriers pay the attacker a share, and never verify them. Each number, each
client address and each session stays under every per-key limit, so the
guard looks at traffic as a whole, by number *prefix* (country code and the
first ``PREFIX_DIGITS`` digits) and by region:

- a burst of sends to one prefix blocks it for a cool-off;
- each region (but ``DEFAULT_REGION``, by default) has a daily cap;
- a prefix or region whose conversion (codes verified ÷ codes sent) over the
  last window is low, with enough volume, gets no more sends until it
  recovers.

Every send goes through :func:`enter` before the send step: one store round
trip that decides and, when the send may go on, counts it (in the guard's
time buckets and in :mod:`django_smsverify.stats`). When the send then does
not happen (a cooldown refuses it, the provider fails) :func:`give_back`
uncounts it; :func:`verified` counts a code that passed. The windows are
buckets of a tenth (burst) or a twelfth (conversion) of the window, so a
window slides in those steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from django_smsverify import signals, stats
from django_smsverify.conf import GuardSettings, app_settings
from django_smsverify.exceptions import RateLimited, SmsSendError
from django_smsverify.store import get_store
from django_smsverify.store.base import DAY_MS, GuardStep, Increment, _mac, now_ms

logger = logging.getLogger("django_smsverify.guard")

BURST_BUCKETS = 10
CONVERSION_BUCKETS = 12


@lru_cache(maxsize=4096)
def number_parts(e164: str, digits: int) -> tuple[str, str]:
    """``(prefix, region)`` of an E.164 number: ``("+86138001", "CN")``.

    The prefix is the country code and the first ``digits`` digits of the
    national significant number; the region is ``"ZZ"`` when unknown.
    """
    # Most country codes belong to one region: read it off the E.164 text
    # (every send is to a new number, so a cache would rarely hit). Shared
    # codes (+1, +7, +44...) need the full parse to tell their regions apart.
    for size in (1, 2, 3):
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(e164[1 : 1 + size] or 0))
        if regions:
            if len(regions) == 1 and regions[0] != "001":
                national = e164[1 + size :]
                return f"{e164[: 1 + size]}{national[:digits]}", regions[0]
            break
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    return f"+{number.country_code}{national[:digits]}", region


@dataclass(frozen=True)
class Ticket:
    """A send that :func:`enter` counted, for :func:`give_back`."""

    step: GuardStep
    now: int
    purpose: str
    event: str
    #: Whether the send counted in the guard's buckets (a number's first in
    #: the window does).
    counted: bool = True


def _buckets(kind: str, window_ms: int, parts: int, now: int) -> tuple[tuple[str, ...], int, int]:
    """The keys of the ``parts`` buckets covering ``window_ms`` up to ``now``,
    newest first, the size of one and how long a bucket key must live."""
    size = max(1000, window_ms // parts)
    index = now // size
    # The size is in the key so that a changed window never reads buckets of
    # another size.
    keys = tuple(f"{stats.OPS_TAG}:{kind}:{size}:{index - i}" for i in range(parts))
    return keys, size, size * (parts + 1)


def build_step(
    e164: str, purpose: str, event: str, config: GuardSettings, now: int, *, count_stats: bool
) -> GuardStep:
    """The :class:`~django_smsverify.store.base.GuardStep` of one send."""
    prefix, region = number_parts(e164, int(config.PREFIX_DIGITS))
    burst_keys, burst_size, burst_ttl = _buckets(
        "b", int(config.PREFIX_WINDOW) * 1000, BURST_BUCKETS, now
    )
    conv_keys, conv_size, conv_ttl = _buckets(
        "c", int(config.CONVERSION_WINDOW) * 1000, CONVERSION_BUCKETS, now
    )
    burst_limit = int(config.PREFIX_BURST or 0)
    grace = -(-int(config.CONVERSION_GRACE) * 1000 // conv_size) if config.CONVERSION_GRACE else 0
    return GuardStep(
        block_key=f"{stats.OPS_TAG}:block:{prefix}",
        day_key=stats.day_key(now),
        hour_key=stats.hour_key(now),
        burst_keys=burst_keys if burst_limit else (),
        conv_keys=conv_keys,
        prefix=prefix,
        region=region,
        sent_field=stats.field_name(event, purpose, region) if count_stats else "",
        refused_field=stats.field_name("refused", purpose, region, "guard:") if count_stats else "",
        enforce=bool(config.ENABLED),
        burst_limit=burst_limit,
        cool_off_ms=int(config.PREFIX_COOL_OFF) * 1000,
        region_cap=config.region_cap(
            region,
            app_settings.DEFAULT_REGION.upper(),
            all_allowed=app_settings.ALLOWED_REGIONS is None,
        ),
        day_end_ms=now - now % DAY_MS + DAY_MS,
        grace_buckets=min(grace, CONVERSION_BUCKETS),
        prefix_min_sends=int(config.PREFIX_MIN_SENDS or 0),
        prefix_min_permille=round(float(config.PREFIX_MIN_CONVERSION) * 1000),
        region_min_sends=int(config.REGION_MIN_SENDS or 0),
        region_min_permille=round(float(config.REGION_MIN_CONVERSION) * 1000),
        conv_bucket_ms=conv_size,
        burst_ttl_ms=burst_ttl,
        conv_ttl_ms=conv_ttl,
        day_ttl_ms=stats.DAY_TTL_MS,
        hour_ttl_ms=stats.HOUR_TTL_MS,
        seen_key=f"{stats.OPS_TAG}:n:{phone_tag(e164)}",
        seen_ttl_ms=max(burst_size * BURST_BUCKETS, conv_size * CONVERSION_BUCKETS),
    )


def enter(e164: str, purpose: str, *, notice: bool = False, request: Any = None) -> Ticket | None:
    """Let one send to ``e164`` through the guard, counting it, or refuse it.

    Returns a :class:`Ticket` for :func:`give_back` (``None`` when neither the
    guard nor the statistics are on). Raises
    :class:`~django_smsverify.exceptions.RateLimited` (scope ``"guard"``,
    whose message does not say which rule fired) after sending
    :data:`~django_smsverify.signals.pumping_suspected` and logging a warning,
    or ``ServiceUnavailable`` when the store is down.
    """
    config = app_settings.PUMPING_GUARD
    count_stats = app_settings.STATS
    if not config and not count_stats:
        return None
    now = now_ms()
    event = "notice" if notice else "sent"
    step = build_step(e164, purpose, event, config, now, count_stats=count_stats)
    rule, wait_ms, counted = get_store().guard_send(step, now)
    if not rule:
        return Ticket(step, now, purpose, event, counted)
    logger.warning(
        "pumping guard refused a %s SMS to prefix %s (%s, %s): %s; retry after %d s",
        purpose,
        step.prefix,
        step.region,
        event,
        rule,
        -(-wait_ms // 1000),
    )
    signals.pumping_suspected.send(
        sender=enter,
        rule=rule,
        phone=e164,
        prefix=step.prefix,
        region=step.region,
        purpose=purpose,
        retry_after=-(-wait_ms // 1000),
        request=request,
    )
    raise RateLimited(wait_ms / 1000, scope="guard")


def give_back(
    ticket: Ticket | None,
    *,
    refused: str | None = None,
    failed: SmsSendError | None = None,
) -> None:
    """Uncount a send :func:`enter` counted that did not happen, and count why:
    ``refused`` names the limit that refused it, ``failed`` is the provider's
    error. Never raises (a counter must not turn a refusal into a 500)."""
    if ticket is None:
        return
    step, now = ticket.step, ticket.now
    f = step.fields
    changes: list[Increment] = [(step.day_key, f["region_day"], -1)]
    deletes = [step.seen_key] if ticket.counted and step.seen_key else []
    if ticket.counted and step.burst_keys:
        changes.append((step.burst_keys[0], f["prefix_sent"], -1))
    if ticket.counted and step.conv_keys:
        changes += [
            (step.conv_keys[0], f["prefix_sent"], -1),
            (step.conv_keys[0], f["region_sent"], -1),
        ]
    expiry: dict[str, int] = {}
    if step.sent_field:
        changes += stats.increments(ticket.event, ticket.purpose, step.region, when=now, delta=-1)
        if refused:
            changes += stats.increments("refused", ticket.purpose, step.region, refused, when=now)
        if failed is not None:
            changes += stats.increments(
                "failed", ticket.purpose, step.region, failure_detail(failed), when=now
            )
        expiry.update(stats.ttls(now))
    stats.count_quietly(changes, expiry, now, deletes=deletes)


def phone_tag(e164: str) -> str:
    """The keyed hash that stands for a number in the guard's keys (as in the
    store's own keys: a plain hash of a phone number is reversed by trying
    them all)."""
    return _mac(f"guard\x00{e164}")[:32]


def failure_detail(error: SmsSendError) -> str:
    """``provider:code`` of a failed send, for the ``failed`` counters."""
    provider = error.provider or "unknown"
    return f"{provider}:{error.provider_code or getattr(error, 'code', '') or 'error'}"


def count_failure(e164: str, purpose: str, error: SmsSendError) -> None:
    """Count a send that failed after it was handed off (a Celery task gave
    up). Never raises."""
    if not app_settings.STATS:
        return
    now = now_ms()
    _prefix, region = number_parts(e164, 1)
    stats.count_quietly(
        stats.increments("failed", purpose, region, failure_detail(error), when=now),
        stats.ttls(now),
        now,
    )


def verified(e164: str, purpose: str) -> None:
    """Count a code that passed its check, for the conversion rules and the
    statistics. Never raises."""
    config = app_settings.PUMPING_GUARD
    count_stats = app_settings.STATS
    if not config and not count_stats:
        return
    now = now_ms()
    prefix, region = number_parts(e164, int(config.PREFIX_DIGITS))
    conv_keys, _size, conv_ttl = _buckets(
        "c", int(config.CONVERSION_WINDOW) * 1000, CONVERSION_BUCKETS, now
    )
    bucket = conv_keys[0]
    changes: list[Increment] = [(bucket, f"v|p|{prefix}", 1), (bucket, f"v|r|{region}", 1)]
    expiry = {bucket: conv_ttl}
    if count_stats:
        changes += stats.increments("verified", purpose, region, when=now)
        expiry.update(stats.ttls(now))
    stats.count_quietly(changes, expiry, now)
