"""The store interface and the key layout both implementations share."""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def now_ms() -> int:
    """The clock every store call is given: milliseconds since the epoch."""
    return int(time.time() * 1000)


# Results of VerificationStore.check().
OK = "ok"
MISMATCH = "mismatch"
EXPIRED = "expired"
LOCKED = "locked"


@dataclass(frozen=True)
class Limit:
    """One counter of :meth:`VerificationStore.hit_many`: its key, how many uses
    a window allows, and the ``scope`` a refusal reports."""

    key: str
    limit: int
    scope: str


@dataclass(frozen=True)
class SendPolicy:
    """The limits one send is checked against. A limit of 0 is off."""

    code_ttl_ms: int
    cooldown_ms: int
    phone_per_hour: int
    phone_per_day: int
    ip_per_hour: int
    max_attempts: int


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``status`` is ok, mismatch, expired or locked."""

    status: str
    attempts_left: int = 0
    retry_after_ms: int = 0
    #: When a code that passed would have expired (``ok`` only), for
    #: :meth:`VerificationStore.restore`.
    expires_ms: int = 0


@dataclass(frozen=True)
class SendState:
    """What :meth:`VerificationStore.peek_send` reads under one set of keys."""

    #: Milliseconds until a send could pass, and the limit that refuses it
    #: (``cooldown``, ``attempts`` or a quota's scope); 0 and ``""`` when none does.
    retry_after_ms: int = 0
    scope: str = ""
    #: Wrong guesses counted, and until when (0 when none).
    attempts: int = 0
    attempts_expires_ms: int = 0
    #: Whether a code that has not expired is stored.
    has_code: bool = False


def hash_secrets() -> tuple[str | bytes, ...]:
    """The secrets the app's keyed hashes derive from, the current one first.

    ``SMSVERIFY["HASH_KEY"]`` when it is set (a key, or a list of the current
    key and its fallbacks), else ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``.
    New values are always written under the first; the others are only read,
    so that state written before a key rotation is still found (see
    ``docs/security.rst``, *Rotating keys*).
    """
    from django_smsverify.conf import app_settings

    own = app_settings.HASH_KEY
    if own is not None:
        return own
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


@functools.lru_cache(maxsize=32)
def derive_key(label: bytes, secret: str | bytes) -> bytes:
    """A key of our own for ``label``, derived from ``secret``, so that the
    app's HMACs can never collide with other uses of the same secret
    (sessions, signing) nor with each other. Cached: settings are still read
    on every call, so ``override_settings`` takes effect at once."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    return hashlib.sha256(label + b":" + raw).digest()


def _derived_key(secret: str | bytes) -> bytes:
    return derive_key(b"django_smsverify.store", secret)


def hash_keys() -> tuple[bytes, ...]:
    """The store's HMAC keys: the current one, then one per fallback secret
    (see :func:`hash_secrets`). Key names and code hashes made with a
    fallback are only ever read."""
    # Without repeats: a send drops the code it finds under a fallback key's
    # names, which must never be its own.
    return tuple(dict.fromkeys(_derived_key(secret) for secret in hash_secrets()))


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 for a hash, whatever a client sent.

    A lone surrogate (``"\\ud800"`` in JSON, or what a ``charset=utf-7``
    body decodes to) cannot be strict UTF-8, and every code, captcha answer
    and key the app hashes comes from a client: ``surrogatepass`` gives such
    text bytes of its own, so it is simply a wrong answer, never a 500.
    """
    return text.encode("utf-8", "surrogatepass")


def _mac(data: str, key: bytes | None = None) -> str:
    if key is None:
        key = _derived_key(hash_secrets()[0])
    return hmac.new(key, utf8(data), hashlib.sha256).hexdigest()


def code_hash(phone: str, purpose: str, code: str, *, key: bytes | None = None) -> str:
    """HMAC of a code, bound to its number and purpose. Only this is ever stored.

    ``key`` is one of :func:`hash_keys` (default: the current one).
    """
    return _mac(f"code\x00{purpose}\x00{phone}\x00{code}", key)


@dataclass(frozen=True)
class Keys:
    """The cache keys of one number and purpose (and client IP).

    Raw numbers and IPs never appear: each is replaced by a keyed hash of fixed
    length (a plain hash of a phone number is reversed by trying them all).
    The phone part is a Redis Cluster hash tag, so every phone key lives in one
    slot.
    """

    code: str
    cooldown: str
    attempts: str
    phone_hour: str
    phone_day: str
    ip_hour: str | None

    @classmethod
    def build(
        cls, phone: str, purpose: str, ip: str | None = None, *, key: bytes | None = None
    ) -> Keys:
        """The keys of ``phone``, ``purpose`` and ``ip`` under the hash key
        ``key`` (one of :func:`hash_keys`; default: the current one). Each
        hash key gives other names: a rotation starts every number afresh,
        and what was stored before is found under the fallback keys' names."""
        if key is None:
            key = _derived_key(hash_secrets()[0])
        p = "smsverify:{%s}" % _mac(f"phone\x00{phone}", key)[:32]
        ip_key = None
        if ip:
            ip_key = "smsverify:{%s}:ip_hour" % _mac(f"ip\x00{ip}", key)[:32]
        return cls(
            code=f"{p}:{purpose}:code",
            cooldown=f"{p}:{purpose}:cooldown",
            attempts=f"{p}:{purpose}:attempts",
            phone_hour=f"{p}:hour",
            phone_day=f"{p}:day",
            ip_hour=ip_key,
        )


@dataclass(frozen=True)
class GuardStep:
    """One send's pass through the pumping guard and the traffic counters
    (:meth:`VerificationStore.guard_send`), built by :mod:`django_smsverify.guard`.

    Counter hashes map a field to a count. ``burst_keys`` and ``conv_keys``
    are the guard's time buckets, newest first; the day and hour hashes hold
    the statistics (:mod:`django_smsverify.stats`) and each region's sends of
    the day. A limit of 0 is off.
    """

    block_key: str
    day_key: str
    hour_key: str
    burst_keys: tuple[str, ...]
    conv_keys: tuple[str, ...]
    prefix: str
    region: str
    #: Statistics field the send counts in ('' when statistics are off), and
    #: the start of the field a refusal counts in.
    sent_field: str
    refused_field: str
    enforce: bool
    burst_limit: int
    cool_off_ms: int
    region_cap: int
    day_end_ms: int
    grace_buckets: int
    prefix_min_sends: int
    prefix_min_permille: int
    region_min_sends: int
    region_min_permille: int
    conv_bucket_ms: int
    burst_ttl_ms: int
    conv_ttl_ms: int
    day_ttl_ms: int
    hour_ttl_ms: int
    #: Marks the number as counted in the buckets (for ``seen_ttl_ms``), so
    #: that repeats of one number count once.
    seen_key: str = ""
    seen_ttl_ms: int = 0

    @property
    def fields(self) -> dict[str, str]:
        """The bucket fields of this step's prefix and region."""
        return {
            "prefix_sent": f"s|p|{self.prefix}",
            "prefix_verified": f"v|p|{self.prefix}",
            "region_sent": f"s|r|{self.region}",
            "region_verified": f"v|r|{self.region}",
            "region_day": f"rs|{self.region}",
        }


#: One change of a counter hash: ``(key, field, delta)``.
Increment = tuple[str, str, int]


class VerificationStore(ABC):
    """Atomic operations on verification state. ``now_ms`` is the app's clock in ms.

    Implementations raise :class:`~django_smsverify.exceptions.RateLimited` when a
    send is refused and :class:`~django_smsverify.exceptions.ServiceUnavailable`
    when the backing service fails; they never fail open.
    """

    @abstractmethod
    def reserve_send(self, keys: Keys, code_hash: str, policy: SendPolicy, now_ms: int) -> None:
        """In one atomic step: refuse if a cooldown, quota or lock-out applies;
        otherwise store ``code_hash`` (replacing any previous code), start the
        cooldown and count the send against every quota."""

    @abstractmethod
    def release_send(
        self, keys: Keys, code_hash: str, now_ms: int, *, keep_cooldown: bool = False
    ) -> None:
        """Give back what :meth:`reserve_send` took, after the SMS could not be
        sent: drop the cooldown (unless ``keep_cooldown``: the provider itself
        refused to send to the number so soon), uncount the quotas, delete the
        code if it is still ``code_hash``."""

    @abstractmethod
    def check(self, keys: Keys, code_hash: str, max_attempts: int, now_ms: int) -> CheckResult:
        """In one atomic step: compare ``code_hash`` with the stored one; on a
        match delete the code; on a mismatch count the attempt, and delete the
        code when attempts run out."""

    @abstractmethod
    def restore(self, keys: Keys, code_hash: str, expires_ms: int, now_ms: int) -> None:
        """Put back a code that :meth:`check` accepted, until ``expires_ms``,
        because what the check was for could not happen (the database refused
        the account). Does nothing once that time has passed or when a newer
        code has been stored meanwhile."""

    def hit(
        self, key: str, limit: int, window_ms: int, now_ms: int, scope: str = "ip_hour"
    ) -> None:
        """Count one use of ``key`` in a fixed window of ``window_ms`` starting at
        its first use; raise :class:`~django_smsverify.exceptions.RateLimited`
        (with ``scope``, and counting nothing) once ``limit`` uses are in the
        window."""
        self.hit_many([Limit(key, limit, scope)], window_ms, now_ms)

    @abstractmethod
    def hit_many(self, limits: Sequence[Limit], window_ms: int, now_ms: int) -> None:
        """:meth:`hit` for several counters in one atomic step: if any is at its
        limit, raise ``RateLimited`` for the first such one and count nothing;
        otherwise count one use of each."""

    @abstractmethod
    def refund(self, keys: Sequence[str], now_ms: int) -> None:
        """Uncount one use of each counter in ``keys``, keeping its window (for a
        use that turned out not to count, such as a login that succeeded)."""

    @abstractmethod
    def guard_send(self, step: GuardStep, now_ms: int) -> tuple[str, int, bool]:
        """In one atomic step: unless ``step.enforce`` is off, refuse the send
        when its prefix is blocked, its region is at its daily cap, its prefix
        is over its burst limit (which blocks the prefix; only a number not
        seen in the window can start a burst) or the conversion of its prefix
        or region is too low; otherwise count it (in the buckets only if the
        number was not seen in the window). Return ``("", 0, counted)`` when
        the send may go on, ``counted`` saying whether the buckets counted
        it, else the rule that refused it, the milliseconds until it may
        succeed and ``False`` (a refusal counts in the statistics as
        ``refused``, nothing else)."""

    @abstractmethod
    def ops_add(
        self,
        changes: Sequence[Increment],
        ttls: dict[str, int],
        now_ms: int,
        deletes: Sequence[str] = (),
    ) -> None:
        """Add each ``(key, field, delta)`` to its counter hash, let each key
        in ``ttls`` live that many more milliseconds and delete the keys in
        ``deletes``, in one atomic step (one round trip)."""

    @abstractmethod
    def ops_read(self, keys: Sequence[str], now_ms: int) -> list[dict[str, int]]:
        """The counter hashes at ``keys`` (an empty dict for a missing one)."""

    # Key rotation: what a send under the current key's names needs from the
    # names of a fallback key (see verification.send_code). Each step touches
    # the keys of one number under one hash key, so one Redis Cluster slot.

    @abstractmethod
    def peek_send(self, keys: Keys, policy: SendPolicy, now_ms: int) -> SendState:
        """Read, writing nothing, what :meth:`reserve_send` would decide on
        the number's keys (``keys.ip_hour`` is left out, so that the step
        stays in one Redis Cluster slot): the cooldown, lock-out or full
        quota that would refuse a send (the longest wait), the wrong guesses
        counted and whether a code is stored. Runs while the store refuses
        writes (out of memory)."""

    @abstractmethod
    def carry_attempts(self, keys: Keys, attempts: int, expires_ms: int, now_ms: int) -> None:
        """Raise the wrong-guess count under ``keys`` to at least ``attempts``,
        counting until at least ``expires_ms`` (nothing once that has passed):
        guesses counted under a fallback key's names keep counting."""

    @abstractmethod
    def drop_code(self, keys: Keys, now_ms: int) -> None:
        """Delete the code under ``keys``: a newer one was stored under other
        names (a resend replaces the previous code, also across a rotation)."""


def limit_key(scope: str, value: str) -> str:
    """Cache key for a generic limit on ``value`` (an IP, say) within ``scope``."""
    return "smsverify:{%s}:%s" % (_mac(f"{scope}\x00{value}")[:32], scope)
