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


@functools.lru_cache(maxsize=4)
def _derived_key(secret: str) -> bytes:
    # A key of our own, derived from SECRET_KEY, so that these HMACs can never
    # collide with other uses of SECRET_KEY (sessions, signing).
    return hashlib.sha256(b"django_smsverify.store:" + secret.encode()).digest()


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 for a hash, whatever a client sent.

    A lone surrogate (``"\\ud800"`` in JSON, or what a ``charset=utf-7``
    body decodes to) cannot be strict UTF-8, and every code, captcha answer
    and key the app hashes comes from a client: ``surrogatepass`` gives such
    text bytes of its own, so it is simply a wrong answer, never a 500.
    """
    return text.encode("utf-8", "surrogatepass")


def _mac(data: str) -> str:
    return hmac.new(_derived_key(settings.SECRET_KEY), utf8(data), hashlib.sha256).hexdigest()


def code_hash(phone: str, purpose: str, code: str) -> str:
    """HMAC of a code, bound to its number and purpose. Only this is ever stored."""
    return _mac(f"code\x00{purpose}\x00{phone}\x00{code}")


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
    def build(cls, phone: str, purpose: str, ip: str | None = None) -> Keys:
        p = "smsverify:{%s}" % _mac(f"phone\x00{phone}")[:32]
        ip_key = None
        if ip:
            ip_key = "smsverify:{%s}:ip_hour" % _mac(f"ip\x00{ip}")[:32]
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
    def guard_send(self, step: GuardStep, now_ms: int) -> tuple[str, int]:
        """In one atomic step: unless ``step.enforce`` is off, refuse the send
        when its prefix is blocked, its region is at its daily cap, its prefix
        is over its burst limit (which blocks the prefix) or the conversion of
        its prefix or region is too low; otherwise count it. Return ``("", 0)``
        when the send may go on, else the rule that refused it and the
        milliseconds until it may succeed (a refusal counts in the
        statistics as ``refused``, nothing else)."""

    @abstractmethod
    def ops_add(self, changes: Sequence[Increment], ttls: dict[str, int], now_ms: int) -> None:
        """Add each ``(key, field, delta)`` to its counter hash and let each key
        in ``ttls`` live that many more milliseconds. Not atomic as a whole
        (one round trip); each change is."""

    @abstractmethod
    def ops_read(self, keys: Sequence[str], now_ms: int) -> list[dict[str, int]]:
        """The counter hashes at ``keys`` (an empty dict for a missing one)."""


def limit_key(scope: str, value: str) -> str:
    """Cache key for a generic limit on ``value`` (an IP, say) within ``scope``."""
    return "smsverify:{%s}:%s" % (_mac(f"{scope}\x00{value}")[:32], scope)
