"""The store on any Django cache (LocMem, database, file, Memcached).

The Django cache API has no atomic read-modify-write across several keys, so
each step runs under a process-wide lock. That makes it correct within one
process (``runserver``, tests, a single worker) but not across processes:
use a Redis cache for that (``smsverify.W004`` says so when ``DEBUG`` is off).

A cache may also drop a write without an error: Memcached, when an item does
not fit, answers "not stored" and Django deletes the key instead. So every
write that a limit depends on is read back before the step goes on, and one
that did not stay raises ``ServiceUnavailable``: a send then stores no code
and sends nothing, and a check counts the guess (and reads the count back)
before it compares, so no answer is ever given for a guess that was not
counted.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

from django_smsverify.exceptions import RateLimited, ServiceUnavailable
from django_smsverify.store.base import (
    DAY_MS,
    EXPIRED,
    HOUR_MS,
    LOCKED,
    MISMATCH,
    OK,
    CheckResult,
    GuardStep,
    Increment,
    Keys,
    Limit,
    SendPolicy,
    SendState,
    VerificationStore,
)

logger = logging.getLogger("django_smsverify.store")

_lock = threading.Lock()


class CacheStore(VerificationStore):
    """Store on a non-Redis cache alias. Values are ``(data, expires_ms)`` tuples."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    # Reads and writes --------------------------------------------------------

    def _get_many(self, keys: list[str], now_ms: int) -> dict[str, tuple[Any, int]]:
        try:
            raw = self.cache.get_many(keys)
        except Exception as exc:
            raise self._unavailable(exc) from exc
        live = {}
        for key, value in raw.items():
            if isinstance(value, tuple) and len(value) == 2 and value[1] > now_ms:
                live[key] = value
        return live

    def _set(self, key: str, data: Any, expires_ms: int, now_ms: int) -> None:
        timeout = max(1, math.ceil((expires_ms - now_ms) / 1000))
        try:
            self.cache.set(key, (data, expires_ms), timeout)
        except Exception as exc:
            raise self._unavailable(exc) from exc

    def _set_confirmed(self, writes: list[tuple[str, int, int]], now_ms: int) -> None:
        """Set each ``(key, count, expires_ms)`` and read them all back; raise
        ``ServiceUnavailable`` if the cache did not keep one (a count another
        process raised meanwhile is kept, so it counts as kept)."""
        for key, count, expires in writes:
            self._set(key, count, expires, now_ms)
        if not writes:
            return
        stored = self._get_many([key for key, _count, _expires in writes], now_ms)
        for key, count, _expires in writes:
            value = stored.get(key)
            if value is None or not isinstance(value[0], int) or value[0] < count:
                logger.error("verification store dropped a write (cache full?): answered 503")
                raise ServiceUnavailable()

    def _delete(self, *keys: str) -> None:
        try:
            self.cache.delete_many(list(keys))
        except Exception as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def _unavailable(exc: BaseException) -> ServiceUnavailable:
        logger.error("verification store unavailable: %s", type(exc).__name__)
        return ServiceUnavailable()

    # Steps ---------------------------------------------------------------------

    def reserve_send(self, keys: Keys, code_hash: str, policy: SendPolicy, now_ms: int) -> None:
        quotas = [
            (keys.phone_hour, policy.phone_per_hour, HOUR_MS, "phone_hour"),
            (keys.phone_day, policy.phone_per_day, DAY_MS, "phone_day"),
        ]
        if keys.ip_hour:
            quotas.append((keys.ip_hour, policy.ip_per_hour, HOUR_MS, "ip_hour"))
        with _lock:
            state = self._get_many([keys.cooldown, keys.attempts, *(q[0] for q in quotas)], now_ms)
            wait, scope = 0, ""
            blocks = []
            if keys.cooldown in state:
                blocks.append((state[keys.cooldown][1] - now_ms, "cooldown"))
            attempts, attempts_exp = state.get(keys.attempts, (0, 0))
            if policy.max_attempts and attempts >= policy.max_attempts:
                blocks.append((attempts_exp - now_ms, "attempts"))
            for key, limit, _window, name in quotas:
                count, expires = state.get(key, (0, 0))
                if limit and count >= limit:
                    blocks.append((expires - now_ms, name))
            for ms, name in blocks:
                if ms > wait:
                    wait, scope = ms, name
            if wait > 0:
                raise RateLimited(wait / 1000, scope=scope)

            # The cooldown and the quotas first, read back before the code is
            # stored: a cache that drops them gets no code, so nothing is sent.
            code_expires = now_ms + policy.code_ttl_ms
            writes: list[tuple[str, int, int]] = []
            if policy.cooldown_ms:
                writes.append((keys.cooldown, 1, now_ms + policy.cooldown_ms))
            # Wrong guesses keep counting for as long as any code they could be aimed at lives.
            if attempts and attempts_exp < code_expires:
                writes.append((keys.attempts, attempts, code_expires))
            for key, _limit, window, _name in quotas:
                count, expires = state.get(key, (0, 0))
                if not count:
                    expires = now_ms + window
                writes.append((key, count + 1, expires))
            self._set_confirmed(writes, now_ms)
            self._set(keys.code, code_hash, code_expires, now_ms)

    def release_send(
        self, keys: Keys, code_hash: str, now_ms: int, *, keep_cooldown: bool = False
    ) -> None:
        counters = [k for k in (keys.phone_hour, keys.phone_day, keys.ip_hour) if k]
        with _lock:
            state = self._get_many([keys.code, *counters], now_ms)
            stale = [] if keep_cooldown else [keys.cooldown]
            code = state.get(keys.code)
            if code and hmac.compare_digest(code[0], code_hash):
                stale.append(keys.code)
            for key in counters:
                count, expires = state.get(key, (0, 0))
                if count > 1:
                    self._set(key, count - 1, expires, now_ms)
                elif count == 1:
                    stale.append(key)
            self._delete(*stale)

    def check(self, keys: Keys, code_hash: str, max_attempts: int, now_ms: int) -> CheckResult:
        with _lock:
            state = self._get_many([keys.code, keys.attempts], now_ms)
            attempts, attempts_exp = state.get(keys.attempts, (0, 0))
            if max_attempts and attempts >= max_attempts:
                self._delete(keys.code)
                return CheckResult(LOCKED, 0, attempts_exp - now_ms)
            stored = state.get(keys.code)
            if stored is None:
                return CheckResult(EXPIRED, max_attempts - attempts)
            # Counted (and read back) before the comparison, taken back if the
            # code was right: a guess the cache would not count gets no
            # answer, and ends the code, since a cache that drops a write
            # may have dropped the count with it.
            counted_exp = attempts_exp if attempts else stored[1]
            try:
                self._set_confirmed([(keys.attempts, attempts + 1, counted_exp)], now_ms)
            except ServiceUnavailable:
                self._delete(keys.code)
                raise
            if hmac.compare_digest(stored[0], code_hash):
                if attempts:
                    self._set(keys.attempts, attempts, attempts_exp, now_ms)
                    self._delete(keys.code)
                else:
                    self._delete(keys.code, keys.attempts)
                return CheckResult(OK, max_attempts - attempts, expires_ms=stored[1])
            attempts, attempts_exp = attempts + 1, counted_exp
            if max_attempts and attempts >= max_attempts:
                self._delete(keys.code)
                return CheckResult(LOCKED, 0, attempts_exp - now_ms)
            return CheckResult(MISMATCH, max_attempts - attempts)

    def restore(self, keys: Keys, code_hash: str, expires_ms: int, now_ms: int) -> None:
        if expires_ms <= now_ms:
            return
        with _lock:
            if keys.code not in self._get_many([keys.code], now_ms):
                self._set(keys.code, code_hash, expires_ms, now_ms)

    def hit_many(self, limits: Sequence[Limit], window_ms: int, now_ms: int) -> None:
        with _lock:
            stored = self._get_many([lim.key for lim in limits], now_ms)
            writes = []
            for lim in limits:
                count, expires = stored.get(lim.key, (0, 0))
                if count >= lim.limit:
                    raise RateLimited((expires - now_ms) / 1000, scope=lim.scope)
                writes.append((lim.key, count + 1, expires if count else now_ms + window_ms))
            self._set_confirmed(writes, now_ms)

    def refund(self, keys: Sequence[str], now_ms: int) -> None:
        with _lock:
            for key, (count, expires) in self._get_many(list(keys), now_ms).items():
                if count > 0:
                    self._set(key, count - 1, expires, now_ms)

    # The pumping guard and counters ------------------------------------------
    # Counter hashes are (dict, expires_ms) values like every other key.

    def _hashes(self, keys: Sequence[str], now_ms: int) -> dict[str, tuple[dict[str, int], int]]:
        return {
            key: value
            for key, value in self._get_many(list(keys), now_ms).items()
            if isinstance(value[0], dict)
        }

    def guard_send(self, step: GuardStep, now_ms: int) -> tuple[str, int, bool]:
        f = step.fields
        with _lock:
            hashes = self._hashes(
                [step.day_key, step.hour_key, *step.burst_keys, *step.conv_keys], now_ms
            )

            def get(key: str, field: str) -> int:
                return int(hashes.get(key, ({}, 0))[0].get(field, 0))

            def refuse(rule: str, wait: int) -> tuple[str, int, bool]:
                if step.refused_field:
                    self._add_locked(
                        [
                            (step.day_key, step.refused_field + rule, 1),
                            (step.hour_key, step.refused_field + rule, 1),
                        ],
                        {step.day_key: step.day_ttl_ms, step.hour_key: step.hour_ttl_ms},
                        now_ms,
                    )
                return rule, max(1, wait), False

            # The block is (strikes, blocked_until) and outlives the block by
            # a day, so that a prefix bursting again soon after is blocked
            # twice as long.
            strikes, blocked = 0, 0
            plain = self._get_many([step.block_key, step.seen_key], now_ms)
            # A number counts once per window in the buckets (see the Redis store).
            fresh = step.seen_key not in plain
            stored = plain.get(step.block_key)
            if stored is not None and isinstance(stored[0], tuple):
                strikes, blocked = stored[0]
            if step.enforce:
                if blocked > now_ms:
                    return refuse("prefix_blocked", blocked - now_ms)
                if step.region_cap and get(step.day_key, f["region_day"]) >= step.region_cap:
                    return refuse("region_cap", step.day_end_ms - now_ms)
                if step.burst_limit and fresh:
                    recent = sum(get(k, f["prefix_sent"]) for k in step.burst_keys)
                    if recent >= step.burst_limit:
                        cool = min(step.cool_off_ms * 2 ** min(strikes, 20), DAY_MS)
                        until = now_ms + cool
                        self._set(step.block_key, (strikes + 1, until), until + DAY_MS, now_ms)
                        return refuse("prefix_burst", cool)
                counted = step.conv_keys[step.grace_buckets :]
                for rule, min_sends, permille, sent, verified in (
                    (
                        "prefix_conversion",
                        step.prefix_min_sends,
                        step.prefix_min_permille,
                        f["prefix_sent"],
                        f["prefix_verified"],
                    ),
                    (
                        "region_conversion",
                        step.region_min_sends,
                        step.region_min_permille,
                        f["region_sent"],
                        f["region_verified"],
                    ),
                ):
                    sends = sum(get(k, sent) for k in counted)
                    verifies = sum(get(k, verified) for k in step.conv_keys)
                    if min_sends and sends >= min_sends and verifies * 1000 < permille * sends:
                        return refuse(rule, step.conv_bucket_ms)
            changes: list[Increment] = [(step.day_key, f["region_day"], 1)]
            ttls = {step.day_key: step.day_ttl_ms}
            if fresh and step.burst_keys:
                changes.append((step.burst_keys[0], f["prefix_sent"], 1))
                ttls[step.burst_keys[0]] = step.burst_ttl_ms
            if fresh and step.conv_keys:
                changes += [
                    (step.conv_keys[0], f["prefix_sent"], 1),
                    (step.conv_keys[0], f["region_sent"], 1),
                ]
                ttls[step.conv_keys[0]] = step.conv_ttl_ms
            if step.sent_field:
                changes += [(step.day_key, step.sent_field, 1), (step.hour_key, step.sent_field, 1)]
                ttls[step.hour_key] = step.hour_ttl_ms
            self._add_locked(changes, ttls, now_ms)
            if fresh and step.seen_key:
                self._set(step.seen_key, 1, now_ms + step.seen_ttl_ms, now_ms)
            return "", 0, fresh

    def _add_locked(self, changes: Sequence[Increment], ttls: dict[str, int], now_ms: int) -> None:
        keys = list(dict.fromkeys([key for key, _field, _delta in changes] + list(ttls)))
        hashes = self._hashes(keys, now_ms)
        updated: dict[str, tuple[dict[str, int], int]] = {}
        for key in keys:
            data, expires = hashes.get(key, ({}, 0))
            updated[key] = (dict(data), expires)
        for key, field, delta in changes:
            updated[key][0][field] = updated[key][0].get(field, 0) + delta
        for key, (data, expires) in updated.items():
            if key in ttls:
                expires = now_ms + ttls[key]
            if expires > now_ms:
                self._set(key, data, expires, now_ms)

    def ops_add(
        self,
        changes: Sequence[Increment],
        ttls: dict[str, int],
        now_ms: int,
        deletes: Sequence[str] = (),
    ) -> None:
        with _lock:
            if changes:
                self._add_locked(changes, ttls, now_ms)
            if deletes:
                self._delete(*deletes)

    def ops_read(self, keys: Sequence[str], now_ms: int) -> list[dict[str, int]]:
        hashes = self._hashes(keys, now_ms)
        return [dict(hashes[key][0]) if key in hashes else {} for key in keys]

    # Key rotation ------------------------------------------------------------

    def peek_send(self, keys: Keys, policy: SendPolicy, now_ms: int) -> SendState:
        quotas = [
            (keys.phone_hour, policy.phone_per_hour, "phone_hour"),
            (keys.phone_day, policy.phone_per_day, "phone_day"),
        ]
        with _lock:
            state = self._get_many(
                [keys.code, keys.cooldown, keys.attempts, *(q[0] for q in quotas)], now_ms
            )
        blocks = []
        if keys.cooldown in state:
            blocks.append((state[keys.cooldown][1] - now_ms, "cooldown"))
        attempts, attempts_exp = state.get(keys.attempts, (0, 0))
        if policy.max_attempts and attempts >= policy.max_attempts:
            blocks.append((attempts_exp - now_ms, "attempts"))
        for key, limit, name in quotas:
            count, expires = state.get(key, (0, 0))
            if limit and count >= limit:
                blocks.append((expires - now_ms, name))
        wait, scope = max(blocks, default=(0, ""), key=lambda block: block[0])
        return SendState(
            retry_after_ms=max(0, wait),
            scope=scope if wait > 0 else "",
            attempts=attempts,
            attempts_expires_ms=attempts_exp,
            has_code=keys.code in state,
        )

    def carry_attempts(self, keys: Keys, attempts: int, expires_ms: int, now_ms: int) -> None:
        if attempts <= 0 or expires_ms <= now_ms:
            return
        with _lock:
            count, expires = self._get_many([keys.attempts], now_ms).get(keys.attempts, (0, 0))
            if count >= attempts and expires >= expires_ms:
                return
            # Read back like any count a limit depends on.
            self._set_confirmed(
                [(keys.attempts, max(count, attempts), max(expires, expires_ms))], now_ms
            )

    def drop_code(self, keys: Keys, now_ms: int) -> None:
        with _lock:
            self._delete(keys.code)
