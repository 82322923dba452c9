"""The verification-code engine: issue codes and check them.

Both steps are single atomic store operations (see :mod:`django_smsverify.store`).
Codes come from :mod:`secrets`, are stored only as an HMAC bound to the number
and purpose, and are never logged or returned.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django_smsverify import delivery, guard, signals
from django_smsverify.client_ip import client_bucket
from django_smsverify.conf import PURPOSES, app_settings
from django_smsverify.exceptions import (
    FORM_MESSAGES,
    CodeExpired,
    CodeMismatch,
    InvalidPurpose,
    RateLimited,
    SmsSendError,
    TooManyAttempts,
)
from django_smsverify.message import SmsMessage
from django_smsverify.phone import normalize
from django_smsverify.store import SendPolicy, get_store
from django_smsverify.store.base import (
    EXPIRED,
    LOCKED,
    OK,
    CheckResult,
    Keys,
    VerificationStore,
    code_hash,
    hash_keys,
    now_ms,
)

#: Builds the SMS for a code: ``(phone, code, purpose, ttl_seconds) -> SmsMessage``.
MessageFactory = Callable[[str, str, str, int], SmsMessage]

logger = logging.getLogger("django_smsverify.verification")

# Anything longer cannot be a code; hashing it would only cost CPU.
_MAX_CODE_INPUT = 64


@dataclass(frozen=True)
class SendResult:
    """What :func:`send_code` tells the caller: the E.164 number, seconds until
    a resend is allowed, and seconds until the code expires."""

    phone: str
    resend_after: int
    expires_in: int
    #: True when the provider's answer left it unknown whether the SMS went
    #: out (a timeout after the request was sent): the code stays valid and
    #: may still arrive, and the user should be told so.
    uncertain: bool = False

    def answer(self) -> dict[str, Any]:
        """The send-code answer of the JSON endpoint and the REST API:
        ``phone``, ``resend_after``, ``expires_in``, ``delivery`` (``"sent"``
        or ``"uncertain"``) and, when uncertain, the ``message`` to show."""
        body: dict[str, Any] = {
            "phone": self.phone,
            "resend_after": self.resend_after,
            "expires_in": self.expires_in,
            "delivery": "uncertain" if self.uncertain else "sent",
        }
        if self.uncertain:
            body["message"] = str(FORM_MESSAGES["delivery_uncertain"])
        return body


def generate_code(length: int | None = None) -> str:
    """A random numeric code of ``length`` digits (leading zeros kept), from :mod:`secrets`."""
    length = length or app_settings.CODE_LENGTH
    return f"{secrets.randbelow(10**length):0{length}d}"


def _purpose(purpose: str) -> str:
    if purpose not in PURPOSES:
        raise InvalidPurpose()
    return purpose


def _test_code(phone: str) -> str | None:
    numbers = app_settings.TEST_NUMBERS
    if not numbers:
        return None
    for raw, code in numbers.items():
        try:
            if normalize(raw) == phone:
                return str(code)
        except ValueError:
            continue
    return None


def _policy() -> SendPolicy:
    limits = app_settings.SEND_LIMITS
    return SendPolicy(
        code_ttl_ms=app_settings.CODE_TTL * 1000,
        cooldown_ms=app_settings.RESEND_COOLDOWN * 1000,
        phone_per_hour=int(limits.get("PHONE_PER_HOUR") or 0),
        phone_per_day=int(limits.get("PHONE_PER_DAY") or 0),
        ip_per_hour=int(limits.get("IP_PER_HOUR") or 0),
        max_attempts=app_settings.MAX_ATTEMPTS,
    )


def _mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def send_code(
    phone: str,
    purpose: str,
    *,
    ip: str | None = None,
    message_factory: MessageFactory | None = None,
    notice: bool = False,
    request: Any = None,
) -> SendResult:
    """Issue a new code for ``phone`` and ``purpose`` and send it by SMS.

    ``message_factory`` builds the SMS (default:
    :func:`django_smsverify.delivery.build_message`); the web layer passes the
    adapter's, which may word the text differently or, to avoid revealing
    whether a number is registered, send a notice that does not carry the code.
    ``notice=True`` marks such a notice. A notice is sent, limited and
    answered exactly like a code (also when the provider fails), so that the
    answer never tells whether the number is registered; only the log line
    and the ``code_sent`` signal (not sent for notices) differ.

    ``ip`` is the client's address; IPv6 addresses count by their
    ``IPV6_PREFIX`` network (see :mod:`django_smsverify.client_ip`).

    Checks the resend cooldown, the per-number and per-IP quotas and any
    lock-out in one atomic step that also stores the new code (replacing the
    previous one). Then, by what the provider answered:

    - accepted: the result;
    - no answer after the request went out (``SmsSendError.maybe_sent``: a
      read timeout, a dropped connection): the SMS may still arrive, so the
      code, cooldown and quotas stay, and the result has ``uncertain=True``;
    - refused because the number was sent to too often
      (``SmsSendError.rate_limited``): the code and quotas are given back
      but the cooldown stays, and
      :class:`~django_smsverify.exceptions.RateLimited` (scope
      ``"provider"``) is raised;
    - any other refusal: everything the step consumed is given back and the
      :class:`~django_smsverify.exceptions.SmsSendError` propagates.

    With ``SMSVERIFY["DELIVERY"] = "celery"`` the SMS is only queued; if the
    broker refuses it, the same is given back and ``ServiceUnavailable`` is
    raised.

    Raises :class:`~django_smsverify.exceptions.InvalidPhoneNumber`,
    :class:`~django_smsverify.exceptions.RateLimited` (with ``retry_after``),
    :class:`~django_smsverify.exceptions.ServiceUnavailable` or ``SmsSendError``.
    """
    purpose = _purpose(purpose)
    e164 = normalize(phone)
    uncertain = False
    fixed = _test_code(e164)
    code = fixed if fixed is not None else generate_code()
    current, *fallbacks = hash_keys()
    hashed = code_hash(e164, purpose, code, key=current)
    policy = _policy()
    # With the per-IP quota off the IP key is not touched at all, which also
    # keeps the script on the number's one Redis Cluster slot.
    keys = Keys.build(e164, purpose, client_bucket(ip) if policy.ip_per_hour else None, key=current)
    store = get_store()
    # Test numbers send nothing, so the pumping guard leaves them alone.
    ticket = (
        None if fixed is not None else guard.enter(e164, purpose, notice=notice, request=request)
    )
    now = now_ms()
    try:
        superseded = _carry_over(store, e164, purpose, keys, fallbacks, policy, now)
        store.reserve_send(keys, hashed, policy, now)
    except RateLimited as exc:
        guard.give_back(ticket, refused=exc.scope)
        raise
    except BaseException:
        guard.give_back(ticket)
        raise
    try:
        for previous in superseded:
            store.drop_code(previous, now)
    except BaseException:
        _release(store, keys, hashed, now)
        guard.give_back(ticket)
        raise
    if fixed is None:
        factory = message_factory or delivery.build_message
        message = factory(e164, code, purpose, app_settings.CODE_TTL)
        released = False

        def release(keep_cooldown: bool = False, error: SmsSendError | None = None) -> None:
            # Once only: release_send uncounts the quotas, so a second call
            # would hand back more than was taken. With Celery delivery
            # dispatch() calls this itself when the task cannot be queued
            # (possibly later, when a surrounding transaction commits).
            nonlocal released
            if not released:
                released = True
                _release(store, keys, hashed, now, keep_cooldown=keep_cooldown)
                guard.give_back(ticket, failed=error)

        try:
            delivery.dispatch(message, expires_in=app_settings.CODE_TTL, on_enqueue_failure=release)
        except SmsSendError as exc:
            what = "notice" if notice else "code"
            if exc.maybe_sent:
                # Withdrawing the code now would break the SMS if it does
                # arrive; keeping it costs nothing if it does not (the
                # user asks again once the cooldown ends).
                logger.warning(
                    "%s SMS to %s may or may not have gone out (%s); the code stays valid",
                    what,
                    _mask(e164),
                    exc,
                )
                uncertain = True
            else:
                release(keep_cooldown=exc.rate_limited, error=exc)
                if exc.rate_limited:
                    logger.warning(
                        "provider refused the %s SMS to %s as too frequent (%s)",
                        what,
                        _mask(e164),
                        exc.provider_code or "-",
                    )
                    raise RateLimited(policy.cooldown_ms / 1000, scope="provider") from exc
                raise
        except BaseException:
            release()
            raise
    if notice:
        logger.info("notice sent to %s for %s", _mask(e164), purpose)
    else:
        logger.info("verification code sent to %s for %s", _mask(e164), purpose)
    if not notice:
        signals.code_sent.send(sender=send_code, phone=e164, purpose=purpose, request=request)
    return SendResult(
        phone=e164,
        resend_after=app_settings.RESEND_COOLDOWN,
        expires_in=app_settings.CODE_TTL,
        uncertain=uncertain,
    )


def _carry_over(
    store: VerificationStore,
    e164: str,
    purpose: str,
    keys: Keys,
    fallbacks: list[bytes],
    policy: SendPolicy,
    now: int,
) -> list[Keys]:
    """Apply to a send under ``keys`` what the names of each fallback hash
    key hold for the number (state written before a key rotation): refuse it
    while a cooldown, lock-out or full quota there says so; carry the wrong
    guesses counted there over to ``keys`` (before the send, so its code is
    never guessed with a fresh count). Returns the fallback keys whose code
    the send replaces.

    One read per fallback, only while fallbacks are configured; the writes
    only for a number that has state under a fallback key's names.
    """
    superseded = []
    for key in fallbacks:
        previous = Keys.build(e164, purpose, key=key)
        state = store.peek_send(previous, policy, now)
        if state.retry_after_ms > 0:
            raise RateLimited(state.retry_after_ms / 1000, scope=state.scope)
        if state.attempts:
            store.carry_attempts(keys, state.attempts, state.attempts_expires_ms, now)
        if state.has_code:
            superseded.append(previous)
    return superseded


def _release(store: Any, keys: Keys, hashed: str, now: int, *, keep_cooldown: bool = False) -> None:
    try:
        store.release_send(keys, hashed, now, keep_cooldown=keep_cooldown)
    except Exception:
        logger.exception("could not give back the quota of a failed send")


def _clean_code(code: object) -> str:
    if not isinstance(code, str):
        return ""
    text = unicodedata.normalize("NFKC", code[: _MAX_CODE_INPUT * 4])
    return "".join(text.split())[:_MAX_CODE_INPUT]


@dataclass(frozen=True)
class VerifiedCode:
    """A code that passed :func:`verify_code`: the E.164 number and purpose it
    was for, and what :func:`restore_code` needs to put it back."""

    phone: str
    purpose: str
    code_hash: str
    expires_ms: int
    #: Which hash key the code was stored under: 0 the current one, 1 the
    #: first fallback and so on (see ``SMSVERIFY["HASH_KEY"]``).
    hash_key_index: int = 0


def check_code(phone: str, code: str, purpose: str, *, request: Any = None) -> str:
    """Check ``code`` for ``phone`` and ``purpose``; return the E.164 number on success.

    The same as :func:`verify_code`, returning only the number.
    """
    return verify_code(phone, code, purpose, request=request).phone


def verify_code(phone: str, code: str, purpose: str, *, request: Any = None) -> VerifiedCode:
    """Check ``code`` for ``phone`` and ``purpose``; on success return a
    :class:`VerifiedCode` (pass it to :func:`restore_code` if what the code
    was for then cannot happen).

    A code passes once: the first successful check deletes it. Every wrong
    guess counts against ``MAX_ATTEMPTS`` (across resends); the last one kills
    the code.

    Raises :class:`~django_smsverify.exceptions.CodeMismatch` (with
    ``attempts_left``), :class:`~django_smsverify.exceptions.CodeExpired`,
    :class:`~django_smsverify.exceptions.TooManyAttempts` (with ``retry_after``),
    :class:`~django_smsverify.exceptions.InvalidPhoneNumber` or
    :class:`~django_smsverify.exceptions.ServiceUnavailable`.
    """
    purpose = _purpose(purpose)
    e164 = normalize(phone)
    result, hashed, key_index = _check(get_store(), e164, purpose, _clean_code(code))
    if result.status == OK:
        logger.info("verification code accepted for %s (%s)", _mask(e164), purpose)
        if _test_code(e164) is None:
            guard.verified(e164, purpose)
        signals.code_verified.send(sender=check_code, phone=e164, purpose=purpose, request=request)
        return VerifiedCode(e164, purpose, hashed, result.expires_ms, key_index)
    if result.status == EXPIRED:
        raise CodeExpired()
    if result.status == LOCKED:
        logger.warning("too many wrong codes for %s (%s)", _mask(e164), purpose)
        raise TooManyAttempts(result.retry_after_ms / 1000)
    raise CodeMismatch(result.attempts_left)


def _check(
    store: VerificationStore, e164: str, purpose: str, code: str
) -> tuple[CheckResult, str, int]:
    """Check ``code`` under the current hash key; only when no code lives
    there (and the number is not locked out there) under each fallback key's
    names in turn, where a code sent before a key rotation lives and a guess
    at it is counted, whichever server checks it. Returns the result, the
    code's hash and the index of the key it was checked under."""
    now = now_ms()
    expired: list[tuple[CheckResult, str, int]] = []
    for index, key in enumerate(hash_keys()):
        hashed = code_hash(e164, purpose, code, key=key)
        result = store.check(
            Keys.build(e164, purpose, key=key), hashed, app_settings.MAX_ATTEMPTS, now
        )
        if result.status != EXPIRED:
            return result, hashed, index
        expired.append((result, hashed, index))
    return expired[0]


def restore_code(verified: VerifiedCode) -> None:
    """Make a code that :func:`verify_code` accepted usable again, until it
    would have expired anyway, because the account change it proved could not
    be saved (the database refused it for a reason that is not the user's).

    Nothing happens once the code has expired or when a newer code was sent
    meanwhile. Wrong-guess counts are not touched. Raises
    :class:`~django_smsverify.exceptions.ServiceUnavailable` when the store is
    down.
    """
    hash_key = hash_keys()[verified.hash_key_index :][:1]
    if not hash_key:
        # The key it was stored under has been dropped since: nothing to restore.
        return
    keys = Keys.build(verified.phone, verified.purpose, key=hash_key[0])
    get_store().restore(keys, verified.code_hash, verified.expires_ms, now_ms())
    logger.info("verification code restored for %s (%s)", _mask(verified.phone), verified.purpose)


__all__ = [
    "RateLimited",
    "SendResult",
    "VerifiedCode",
    "check_code",
    "generate_code",
    "restore_code",
    "send_code",
    "verify_code",
]
