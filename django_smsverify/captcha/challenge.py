"""Captcha challenges: creation, single-use checking, and the answer behind a key.

How a challenge is kept
-----------------------
The client gets a random key (``secrets.token_urlsafe``). The answer is not
drawn separately and stored in clear: it is *derived* from the key with a keyed
HMAC (a key of our own derived from ``SECRET_KEY``, or ``SMSVERIFY["HASH_KEY"]``)
mapped onto :data:`ALPHABET`. So the image endpoint can draw the answer from the key alone,
and the cache holds nothing that gives the answer away: under a fixed-length
keyed hash of the key, it holds a keyed hash of the answer and the expiry.
Neither the cache contents nor the key reveal the answer without
``SECRET_KEY`` (and whoever has that can forge sessions anyway).

The cache entry is what makes a key *live*: a made-up key has no entry, and
the first check deletes it atomically, right or wrong, so an answer can be
tried once per image. Drawing the image only reads the entry.

No ``random`` state is involved: keys come from ``secrets`` and the answer
from HMAC-SHA256 output.

Key rotation: a challenge is stored and drawn under the current hash key. One
that is not found under it is looked for under each fallback key
(``SECRET_KEY_FALLBACKS``, or the rest of a ``HASH_KEY`` list), and is drawn
and checked under the key it was made with, so a challenge made by a server
with the old key is solved on one with the new key.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import secrets
from dataclasses import dataclass

from django_smsverify.captcha import store
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import RateLimited, ServiceUnavailable
from django_smsverify.store import get_store
from django_smsverify.store.base import (
    HOUR_MS,
    Limit,
    derive_key,
    hash_secrets,
    limit_key,
    now_ms,
    utf8,
)

MINUTE_MS = 60_000

#: The characters of a challenge: upper-case letters and digits, keeping one
#: of each pair that a person (or a warped glyph) can confuse: no 0/O/Q, 1/I/L,
#: 2/Z/7, 5/S, 6/G, 8/B, 9/g, 4/A, U/V, 7/T, and E/F and P/R (noise lines
#: can add or hide a bar or a leg). Answers are
#: case-insensitive and shown in upper case, so lower-case l never appears.
#: 18 characters; see answer_for() for how a byte picks one without bias.
ALPHABET = "34CDEHJKMNPSTUWXYZ"

# token_urlsafe(24) gives 32 characters of this set. Anything else is not a key
# we issued and is refused before any hashing or store access (a 10 KB key, NUL
# bytes, non-ASCII text).
_KEY_BYTES = 24
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{32}")

# Longer answers are wrong anyway; this bounds the work done on hostile input.
_MAX_ANSWER_CHARS = 64


@dataclass(frozen=True)
class Challenge:
    """A new captcha challenge.

    ``key`` is handed to the client (it names the image and comes back with the
    answer); ``expires_in`` is its lifetime in seconds. The answer is not here:
    only :func:`challenge_image` draws it.
    """

    key: str
    expires_in: int


def is_enabled() -> bool:
    """Whether a captcha must be solved before a code is sent (``SMSVERIFY["CAPTCHA"]``)."""
    return bool(app_settings.CAPTCHA)


def new_challenge(*, client: str | None = None) -> Challenge:
    """Create and store a new challenge; return its key and lifetime.

    With ``client`` (a per-client key such as
    :func:`django_smsverify.adapter.client_key` gives), the creation is first
    counted against ``CREATE_PER_MINUTE`` and ``CREATE_PER_HOUR`` (see
    :func:`count_creation`); without it, it is not limited.

    Raises :class:`~django_smsverify.exceptions.RateLimited` past a limit and
    :class:`~django_smsverify.exceptions.ServiceUnavailable` when the
    verification store is down.
    """
    if client is not None:
        count_creation(client)
    options = app_settings.CAPTCHA
    ttl_ms = int(options.TTL) * 1000
    key = secrets.token_urlsafe(_KEY_BYTES)
    now = now_ms()
    mac_key = _mac_keys()[0]
    store.put(
        _cache_key(key, mac_key),
        _answer_hash(key, _answer(key, mac_key), mac_key),
        now + ttl_ms,
        now,
    )
    return Challenge(key=key, expires_in=int(options.TTL))


def count_creation(client: str) -> None:
    """Count one new challenge for ``client`` against the creation limits.

    Each window (``CREATE_PER_MINUTE``, then ``CREATE_PER_HOUR``; ``None`` or
    0 is off) is one atomic counter of the verification store, so concurrent
    creations never get past a limit. A creation refused by the hour limit
    gives back what it took from the minute one.

    Raises :class:`~django_smsverify.exceptions.RateLimited` (scope
    ``captcha_minute`` or ``captcha_hour``, with ``retry_after``) and
    :class:`~django_smsverify.exceptions.ServiceUnavailable`.
    """
    options = app_settings.CAPTCHA
    windows = (
        (options.CREATE_PER_MINUTE, MINUTE_MS, "captcha_minute"),
        (options.CREATE_PER_HOUR, HOUR_MS, "captcha_hour"),
    )
    store = get_store()
    now = now_ms()
    taken: list[str] = []
    for limit, window_ms, scope in windows:
        if not limit:
            continue
        key = limit_key(scope, client)
        try:
            store.hit_many([Limit(key, int(limit), scope)], window_ms, now)
        except RateLimited:
            if taken:
                # Not giving it back only makes the limit stricter.
                with contextlib.suppress(ServiceUnavailable):
                    store.refund(taken, now)
            raise
        taken.append(key)


def verify(key: str, answer: str) -> bool:
    """Check ``answer`` for the challenge ``key`` and consume the challenge.

    The first check of a key deletes it, whether the answer is right or wrong,
    in one atomic step (concurrent checks of one key: at most one is ``True``).
    The answer is case-insensitive and spaces are ignored. Unknown, expired,
    used and malformed keys give ``False``.

    With ``SMSVERIFY["CAPTCHA"]["TEST_MODE"]`` on, ``TEST_ANSWER`` gives
    ``True`` for any key (see :attr:`~django_smsverify.conf.AppSettings.CAPTCHA`).

    Raises :class:`~django_smsverify.exceptions.ServiceUnavailable` when the
    verification store is down: a check never passes without the store.
    """
    options = app_settings.CAPTCHA
    given = normalize_answer(answer)
    if options.TEST_MODE and given and given == normalize_answer(options.TEST_ANSWER):
        return True
    if not is_valid_key(key):
        return False
    now = now_ms()
    # Under the current key first; the fallback keys' names only when the
    # challenge is not there (one made before a key rotation).
    for mac_key in _mac_keys():
        stored = store.pop(_cache_key(key, mac_key), now)
        if stored is not None:
            return bool(given) and hmac.compare_digest(stored, _answer_hash(key, given, mac_key))
    return False


def is_live(key: str) -> bool:
    """Whether ``key`` names a stored, unexpired, unused challenge. Does not consume it.

    Raises :class:`~django_smsverify.exceptions.ServiceUnavailable` when the
    verification store is down.
    """
    return _live_under(key) is not None


def challenge_image(key: str, *, scale: int = 1) -> bytes | None:
    """The PNG image of a live challenge, or ``None`` if ``key`` is not live.

    Does not consume the challenge, and the same key always gives the same
    picture (so fetching it many times does not help average the noise away).
    ``scale`` 2 draws it at twice the configured size for high-DPI screens.
    """
    mac_key = _live_under(key)
    if mac_key is None:
        return None
    from django_smsverify.captcha.image import render_png

    options = app_settings.CAPTCHA
    return render_png(
        _answer(key, mac_key),
        int(options.WIDTH),
        int(options.HEIGHT),
        scale=scale,
        seed=_drawing_seed(key, mac_key),
    )


def is_valid_key(key: object) -> bool:
    """Whether ``key`` has the shape of a key :func:`new_challenge` issues (live or not)."""
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def normalize_answer(answer: object) -> str:
    """The answer as compared: upper case, no whitespace; ``""`` for non-text or overlong input."""
    if not isinstance(answer, str) or len(answer) > _MAX_ANSWER_CHARS:
        return ""
    return "".join(answer.split()).upper()


def answer_for(key: str) -> str:
    """The answer of challenge ``key``: a keyed HMAC of the key mapped onto :data:`ALPHABET`.

    Under the current hash key, as for a challenge made now. For tests; never
    send it to a client.
    """
    return _answer(key, _mac_keys()[0])


# Internals ---------------------------------------------------------------------


def _answer(key: str, mac_key: bytes) -> str:
    length = int(app_settings.CAPTCHA.LENGTH)
    # One byte per character. Bytes at or above the largest multiple of
    # len(ALPHABET) are skipped, so every character is equally likely; a
    # digest has 32 bytes and under 2 % are skipped, so the loop almost never
    # needs a second block.
    limit = 256 - 256 % len(ALPHABET)
    chars: list[str] = []
    block = 0
    while len(chars) < length:
        digest = _mac(mac_key, b"answer", utf8(key) + (b"\x00%d" % block if block else b""))
        chars += [ALPHABET[b % len(ALPHABET)] for b in digest if b < limit]
        block += 1
    return "".join(chars[:length])


def _mac_keys() -> tuple[bytes, ...]:
    # Keys of our own, so these HMACs can never collide with other uses of
    # the same secret (sessions, signing, the code store's hashes). The
    # current one first, then the fallbacks.
    return tuple(
        dict.fromkeys(derive_key(b"django_smsverify.captcha", secret) for secret in hash_secrets())
    )


def _live_under(key: str) -> bytes | None:
    """The hash key a live challenge ``key`` was made with, or ``None``."""
    if not is_valid_key(key):
        return None
    now = now_ms()
    for mac_key in _mac_keys():
        if store.peek(_cache_key(key, mac_key), now) is not None:
            return mac_key
    return None


def _mac(mac_key: bytes, label: bytes, data: bytes) -> bytes:
    return hmac.new(mac_key, label + b"\x00" + data, "sha256").digest()


def _cache_key(key: str, mac_key: bytes) -> str:
    # Fixed length whatever the client sent; the hash tag keeps each key in one
    # Redis Cluster slot, as in the code store.
    return "smsverify:{captcha:%s}" % _mac(mac_key, b"key", utf8(key)).hex()[:32]


def _answer_hash(key: str, answer: str, mac_key: bytes) -> str:
    return _mac(mac_key, b"answer-hash", utf8(f"{key}\x00{answer}")).hex()


def _drawing_seed(key: str, mac_key: bytes) -> int:
    return int.from_bytes(_mac(mac_key, b"drawing", utf8(key))[:8], "big")
