"""Routing by region, failover, a circuit breaker and a sending rate, over other backends.

Settings (see ``docs/routing.rst``)::

    SMS_BACKEND = "django_smsverify.backends.routing.SmsBackend"
    SMSVERIFY = {
        "PROVIDERS": {
            "aliyun": {"BACKEND": "django_smsverify.backends.aliyun.SmsBackend",
                       "RATE_PER_SECOND": 50},
            "tencent": {"BACKEND": "django_smsverify.backends.tencent.SmsBackend"},
            "twilio": {"BACKEND": "django_smsverify.backends.twilio.SmsBackend"},
        },
        "ROUTING": {
            "ROUTES": {"CN": ["aliyun", "tencent"], "default": ["twilio"]},
            "CIRCUIT_BREAKER": {"FAILURES": 5, "WINDOW": 60, "COOL_OFF": 60},
        },
    }

What moves on to the next provider of a route, and what does not:

- a transient failure (connection refused, HTTP 5xx, a provider's own
  throttling) and an unknown outcome (``maybe_sent``: a read timeout, an
  unreadable reply) fail over. After an unknown outcome the first provider
  may still deliver, so the user may get two texts carrying the same code;
  the attempt is recorded as ``uncertain``;
- a permanent error (invalid number, a template the provider refuses, a
  configuration error) is raised: the next provider would refuse the same
  message, or the site must fix its settings;
- the provider's refusal to send to this number so often
  (``SmsSendError.rate_limited``) is raised too: the number is the problem,
  and the app keeps the resend cooldown.

A provider is never called twice for one send. When every provider of a
route is skipped (circuit open, or its rate full), the send fails at once
with a transient error (``provider_code`` ``"no_provider"``): failing fast
is the point of the breaker, the code and quotas are given back, and with
Celery delivery the task retries later.

The breaker and the rate keep their state in the cache ``SMSVERIFY["CACHE"]``
(the one the verification store uses), so every process agrees. If that
cache fails, both step aside (the send goes ahead) rather than stop sends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import phonenumbers
from django.core.cache import caches

from django_smsverify import get_connection
from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage, SmsStatus
from django_smsverify.phone import region_of

logger = logging.getLogger("django_smsverify.backends.routing")

#: Outcomes of one provider in :attr:`SmsStatus.attempts`.
SENT = "sent"
UNCERTAIN = "uncertain"  # no answer after the request went out: may have been sent
TRANSIENT = "transient"  # failed, nothing sent, may work later
PERMANENT = "permanent"  # refused; the next provider would refuse it too
RATE_LIMITED = "rate_limited"  # the provider's per-number frequency limit
SKIPPED = "skipped"  # circuit open: not called
THROTTLED = "throttled"  # RATE_PER_SECOND full for longer than RATE_WAIT: not called

#: ``provider`` of the errors the routing backend raises itself.
ROUTING_PROVIDER = "routing"

_PREFIX = "smsverify:provider"


class RoutingError(SmsSendError):
    """The send failed on every provider tried; ``attempts`` says how each one went.

    The other attributes are those of the last provider's error, except that
    ``maybe_sent`` is true when any provider tried may have sent the message.
    """

    def __init__(self, *args: Any, attempts: Sequence[tuple[str, str]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.attempts: list[tuple[str, str]] = list(attempts)


def route_for(phone: str, routes: dict[str, Any]) -> list[str]:
    """The provider names of the route for an E.164 ``phone``: its region's
    (``"CN"``), else its calling code's (``"+86"``), else ``"default"``'s."""
    region = region_of(phone)
    if region and region in routes:
        return list(routes[region])
    try:
        calling_code = f"+{phonenumbers.parse(phone, None).country_code}"
    except phonenumbers.NumberParseException:
        calling_code = None
    if calling_code and calling_code in routes:
        return list(routes[calling_code])
    return list(routes.get("default") or [])


def _cache() -> Any:
    return caches[app_settings.CACHE]


def _key(name: str, suffix: str) -> str:
    return f"{_PREFIX}:{name}:{suffix}"


def _count(cache: Any, key: str, timeout: int) -> int:
    """Add one to the counter ``key`` (created with ``timeout``) and return it."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:
        # It expired between add() and incr(): this is the first of a new window.
        cache.add(key, 1, timeout=timeout)
        return 1


class CircuitBreaker:
    """Per-provider breaker state in the shared cache.

    Closed: every send goes through; each transient failure counts in a
    window of ``WINDOW`` seconds that starts with the first one. At
    ``FAILURES`` the circuit opens until ``COOL_OFF`` seconds from then.
    After that one send (the first to take the trial key) tries the
    provider: success or any answer that is not a transient failure closes
    the circuit, a transient failure opens it again for ``COOL_OFF``.
    """

    def __init__(self, failures: int, window: float, cool_off: float) -> None:
        self.failures = max(1, int(failures))
        self.window = max(1, math.ceil(window))
        self.cool_off = max(1, math.ceil(cool_off))

    def allow(self, name: str) -> bool | str:
        """``True`` (closed), ``"trial"`` (this caller makes the half-open trial)
        or ``False`` (skip the provider)."""
        cache = _cache()
        opened_until = cache.get(_key(name, "open"))
        if opened_until is None:
            return True
        if time.time() < float(opened_until):
            return False
        # The trial key lives as long as a cool-off, so a trial whose process
        # died holds the provider back no longer than another cool-off.
        if cache.add(_key(name, "trial"), 1, timeout=self.cool_off):
            return "trial"
        return False

    def failed(self, name: str, trial: bool) -> bool:
        """Count a transient failure; return True when it opened the circuit."""
        cache = _cache()
        if not trial and _count(cache, _key(name, "failures"), self.window) < self.failures:
            return False
        # Kept past the cool-off, so the half-open state is seen; once it
        # expires unused the circuit is simply closed.
        cache.set(
            _key(name, "open"),
            time.time() + self.cool_off,
            timeout=self.cool_off + max(self.window, 60),
        )
        cache.delete_many([_key(name, "failures"), _key(name, "trial")])
        return True

    def answered(self, name: str, trial: bool) -> None:
        """The provider answered (sent, or refused for a reason of the message's)."""
        if trial:
            _cache().delete_many([_key(name, "open"), _key(name, "trial"), _key(name, "failures")])


def take_rate_slot(name: str, rate: float, max_wait: float) -> bool:
    """Take a slot under ``rate`` messages per second for provider ``name``,
    waiting up to ``max_wait`` seconds; False when none came free in time.

    A fixed window per second (``INCR`` on a key named after the second):
    simple and shared by every process, at the price of letting up to twice
    the rate through across a window boundary. Rates under 1 use windows of
    ``ceil(1 / rate)`` seconds.
    """
    window = 1 if rate >= 1 else math.ceil(1 / rate)
    allowed = max(1, math.floor(rate * window))
    cache = _cache()
    deadline = time.monotonic() + max_wait
    while True:
        now = time.time()
        slot = int(now // window)
        if _count(cache, _key(name, f"rate:{slot}"), window + 1) <= allowed:
            return True
        wait = (slot + 1) * window - now
        if time.monotonic() + wait > deadline:
            return False
        time.sleep(wait)


class SmsBackend(BaseSmsBackend):
    """Send through the providers of ``SMSVERIFY["ROUTING"]["ROUTES"]`` for the
    number's region, in order, failing over on transient and unknown-outcome
    failures (see the module docstring).

    The message's ``status.provider`` is the ``provider_name`` of the backend
    that sent; ``status.attempts`` lists ``(name, outcome)`` for every
    provider considered, with names as in ``SMSVERIFY["PROVIDERS"]``. A
    message with several numbers follows the route of its first number.
    """

    provider_name = ROUTING_PROVIDER

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        self._backends: dict[str, BaseSmsBackend] = {}
        self._open = False

    def open(self) -> bool:
        # Provider backends are built and opened when first used, so one that
        # a batch never reaches costs nothing.
        if self._open:
            return False
        self._open = True
        return True

    def close(self) -> None:
        self._open = False
        backends, self._backends = self._backends, {}
        for backend in backends.values():
            try:
                backend.close()
            except Exception:
                logger.warning("closing SMS provider %s failed", backend.provider_name)

    def _backend(self, name: str, config: dict[str, Any]) -> BaseSmsBackend:
        backend = self._backends.get(name)
        if backend is None:
            path = config.get("BACKEND")
            if not path:
                raise SmsConfigurationError(f"SMSVERIFY['PROVIDERS'][{name!r}] has no 'BACKEND'.")
            try:
                backend = get_connection(str(path), fail_silently=False)
            except ImportError as exc:
                raise SmsConfigurationError(
                    f"SMSVERIFY['PROVIDERS'][{name!r}]['BACKEND'] cannot be imported: {exc}"
                ) from exc
            if isinstance(backend, SmsBackend):
                raise SmsConfigurationError(
                    f"SMSVERIFY['PROVIDERS'][{name!r}] is the routing backend itself."
                )
            if self._open:
                backend.open()
            self._backends[name] = backend
        return backend

    def send_message(self, message: SmsMessage) -> SmsStatus:
        options = app_settings.ROUTING
        providers = app_settings.PROVIDERS
        routes = options.get("ROUTES") or {}
        names = list(dict.fromkeys(route_for(message.to[0], routes)))
        if not names:
            raise SmsConfigurationError(
                "SMSVERIFY['ROUTING']['ROUTES'] has no route for this number and no 'default'."
            )
        breaker_options = options.get("CIRCUIT_BREAKER")
        breaker = (
            CircuitBreaker(
                breaker_options["FAILURES"], breaker_options["WINDOW"], breaker_options["COOL_OFF"]
            )
            if breaker_options
            else None
        )
        rate_wait = float(options.get("RATE_WAIT") or 0)
        attempts: list[tuple[str, str]] = []
        last_error: SmsSendError | None = None
        maybe_sent = False
        for name in names:
            config = providers.get(name)
            if config is None:
                raise SmsConfigurationError(
                    f"SMSVERIFY['ROUTING']['ROUTES'] names {name!r}, which is not in "
                    "SMSVERIFY['PROVIDERS']."
                )
            backend = self._backend(name, config)
            trial = self._allowed(breaker, name)
            if trial is False:
                attempts.append((name, SKIPPED))
                continue
            rate = config.get("RATE_PER_SECOND")
            if rate and not self._slot(name, float(rate), rate_wait):
                attempts.append((name, THROTTLED))
                if trial == "trial":
                    # The trial did not happen: let the next send make it.
                    _safely(_cache().delete, _key(name, "trial"))
                continue
            try:
                status = _send_one(backend, message)
            except SmsSendError as exc:
                last_error = exc
                outcome = _outcome(exc)
                attempts.append((name, outcome))
                if exc.maybe_sent:
                    maybe_sent = True
                if outcome in (UNCERTAIN, TRANSIENT):
                    if breaker is not None:
                        self._failed(breaker, name, trial == "trial")
                    logger.warning(
                        "SMS provider %s failed (%s, %s); trying the next one",
                        name,
                        exc.provider_code or "-",
                        outcome,
                    )
                    continue
                if breaker is not None:
                    _safely(breaker.answered, name, trial == "trial")
                raise _routing_error(exc, attempts, maybe_sent) from exc
            if breaker is not None:
                _safely(breaker.answered, name, trial == "trial")
            attempts.append((name, SENT))
            status.attempts = attempts
            return status
        if last_error is None:
            raise RoutingError(
                "every provider of the route is skipped (circuit open) or at its rate",
                provider=ROUTING_PROVIDER,
                provider_code="no_provider",
                transient=True,
                attempts=attempts,
            )
        raise _routing_error(last_error, attempts, maybe_sent)

    def _allowed(self, breaker: CircuitBreaker | None, name: str) -> bool | str:
        if breaker is None:
            return True
        try:
            return breaker.allow(name)
        except Exception as exc:
            logger.warning("circuit breaker state unavailable (%s); not skipping %s", exc, name)
            return True

    def _failed(self, breaker: CircuitBreaker, name: str, trial: bool) -> None:
        try:
            opened = breaker.failed(name, trial)
        except Exception as exc:
            logger.warning("circuit breaker state unavailable (%s)", exc)
            return
        if opened:
            logger.error(
                "SMS provider %s skipped for %d s after repeated failures", name, breaker.cool_off
            )

    def _slot(self, name: str, rate: float, max_wait: float) -> bool:
        try:
            return take_rate_slot(name, rate, max_wait)
        except Exception as exc:
            logger.warning("provider rate state unavailable (%s); not limiting %s", exc, name)
            return True

    def _record_failure(self, message: SmsMessage, error: SmsSendError) -> None:
        super()._record_failure(message, error)
        if message.status is not None:
            message.status.attempts = list(getattr(error, "attempts", []))


def _send_one(backend: BaseSmsBackend, message: SmsMessage) -> SmsStatus:
    """One provider's try: its status, or its SmsSendError (also for a status
    that reports the message not sent)."""
    message.status = None
    backend.send_messages([message])
    status = message.status
    if status is None:
        raise SmsSendError("the provider reported nothing", provider=backend.provider_name)
    if not status.sent:
        raise status.error or SmsSendError(
            "the provider did not send the message",
            provider=status.provider or backend.provider_name,
            provider_code=status.provider_code,
        )
    return status


def _outcome(error: SmsSendError) -> str:
    if error.rate_limited:
        return RATE_LIMITED
    if error.maybe_sent:
        return UNCERTAIN
    return TRANSIENT if error.transient else PERMANENT


def _routing_error(
    error: SmsSendError, attempts: list[tuple[str, str]], maybe_sent: bool
) -> RoutingError:
    routed = RoutingError(
        error.detail,
        provider=error.provider,
        provider_code=error.provider_code,
        transient=error.transient,
        response=error.response,
        message=error.message,
        maybe_sent=maybe_sent or error.maybe_sent,
        rate_limited=error.rate_limited,
        attempts=attempts,
    )
    routed.__cause__ = error
    return routed


def _safely(step: Any, *args: Any) -> None:
    try:
        step(*args)
    except Exception as exc:
        logger.warning("circuit breaker state unavailable (%s)", exc)


def describe_attempts(attempts: Sequence[tuple[str, str]]) -> str:
    """``"a: uncertain, b: sent"``: how the delivery record and
    ``smsverify_sendtest`` show the providers tried."""
    return ", ".join(f"{name}: {outcome}" for name, outcome in attempts)


__all__ = ["RoutingError", "SmsBackend", "describe_attempts", "route_for"]
