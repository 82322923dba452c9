"""The hand-off of one SMS from the web process to a Celery worker.

Used when ``SMSVERIFY["DELIVERY"]`` is ``"celery"`` (see
:mod:`django_smsverify.delivery` and :mod:`django_smsverify.tasks`).

**Keeping the code out of the broker, logs and result backends.** The
message's text and template parameters carry the verification code, so they
never travel in the task message. They are split in two with a one-time pad
(as many random bytes from :mod:`secrets` as the serialised message has):

- the cache that holds the verification state (``SMSVERIFY["CACHE"]``) gets
  ``message XOR pad`` under a random hand-off id, for no longer than the code
  lives, and loses it as soon as the delivery ends;
- the task message gets only the pad, the hand-off id, the delivery record id
  and the expiry time.

Either half alone is uniformly random bytes, so a broker dump, a monitoring
tool showing task arguments, or a copy of the cache reveals nothing about the
code, and the store keeps its rule that codes are held only as an HMAC. (Both
halves together do reveal it, by design: that is how the worker reads it.) On
top of that the task's ``argsrepr``/``kwargsrepr`` (what Celery logs and
events show) name only the delivery record, and the task ignores its result,
errors included, so no result backend stores anything about it.

**Claims, for at most one provider call per try.** Before calling the
provider, a worker *claims* the try (the hand-off id and the retry number)
with an atomic add-if-absent in the same cache (``SET NX`` on Redis). A
redelivered task message (late acknowledgement after a worker was killed,
a broker visibility timeout) finds the claim taken and does not call the
provider again; see :mod:`django_smsverify.tasks` for what it does instead.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import time
from typing import Any

from django.core.cache import caches

from django_smsverify.conf import app_settings
from django_smsverify.message import SmsMessage

#: Claim states: the provider is being called; a retry was scheduled; finished.
SENDING = "sending"
RETRYING = "retrying"
DONE = "done"

#: How long a claim outlives the code, in seconds: a redelivery of an expired
#: task is refused by the expiry check anyway, but the claim must not vanish
#: while a message for it may still be in flight.
CLAIM_GRACE = 120


def _cache() -> Any:
    return caches[app_settings.CACHE]


def _key(handoff_id: str, suffix: str) -> str:
    # The hash tag keeps all keys of one hand-off in one Redis Cluster slot.
    return f"smsverify:{{{handoff_id}}}:handoff:{suffix}"


def _ttl(expires_at: float, grace: float = 0) -> int:
    return max(1, math.ceil(expires_at - time.time() + grace))


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def seal(message: SmsMessage, expires_at: float) -> tuple[str, str]:
    """Store half of ``message`` in the cache until ``expires_at`` (epoch seconds).

    Returns ``(handoff_id, pad)``: the other half, for the task message.
    Cache errors propagate.
    """
    data = json.dumps(
        {
            "to": message.to,
            "body": message.body,
            "template_id": message.template_id,
            "params": message.params,
            "purpose": message.purpose,
        },
        ensure_ascii=False,
    ).encode("utf-8")
    pad = secrets.token_bytes(len(data))
    handoff_id = secrets.token_hex(16)
    _cache().set(_key(handoff_id, "message"), _xor(data, pad), timeout=_ttl(expires_at))
    return handoff_id, base64.urlsafe_b64encode(pad).decode("ascii")


def open_sealed(handoff_id: str, pad: str) -> SmsMessage | None:
    """The message :func:`seal` stored, or ``None`` when it is gone (expired,
    already delivered) or does not match ``pad``."""
    sealed = _cache().get(_key(handoff_id, "message"))
    if not isinstance(sealed, bytes):
        return None
    try:
        raw = base64.urlsafe_b64decode(pad.encode("ascii"))
        data = json.loads(_xor(sealed, raw).decode("utf-8"))
    except ValueError:  # wrong length, bad base64, not UTF-8 or not JSON
        return None
    return SmsMessage(
        to=data["to"],
        body=data["body"],
        template_id=data["template_id"],
        params=data["params"],
        purpose=data["purpose"],
    )


def discard(handoff_id: str) -> None:
    """Delete the stored half of the message (the delivery is over)."""
    _cache().delete(_key(handoff_id, "message"))


def claim(handoff_id: str, attempt: int, expires_at: float) -> str | None:
    """Claim try number ``attempt`` (0 for the first) of a hand-off.

    Returns ``None`` when this caller now owns the try and may call the
    provider, else the state the owner left (:data:`SENDING`,
    :data:`RETRYING` or :data:`DONE`). Cache errors propagate.
    """
    key = _key(handoff_id, f"claim:{attempt}")
    cache = _cache()
    if cache.add(key, SENDING, timeout=_ttl(expires_at, CLAIM_GRACE)):
        return None
    state = cache.get(key)
    # Gone between add() and get() means it expired: treat it as finished.
    return str(state) if state is not None else DONE


def mark(handoff_id: str, attempt: int, state: str, expires_at: float) -> None:
    """Record what became of a claimed try (:data:`RETRYING` or :data:`DONE`)."""
    _cache().set(_key(handoff_id, f"claim:{attempt}"), state, timeout=_ttl(expires_at, CLAIM_GRACE))
