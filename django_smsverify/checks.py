"""System checks. Ids: ``smsverify.E0xx``/``W0xx`` core, ``E1xx`` providers,
``E2xx`` captcha, ``E3xx`` web, ``E4xx``/``W4xx`` Celery delivery, ``E5xx`` REST
API. Each id has a test (``tests/test_checks.py``; the E4xx ones in
``tests/test_celery_checks.py``, the E5xx ones in ``tests/test_api_checks.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from django_smsverify.conf import DEFAULTS, PASSWORD_LOGIN_LIMIT_KEYS, SEND_LIMIT_KEYS, app_settings

# NIST SP 800-63B (5.1.3) and OWASP ASVS (2.7) cap out-of-band codes at 10 minutes.
MAX_RECOMMENDED_TTL = 600


def unknown_key_errors(
    value: Mapping[str, Any], known: Iterable[str], where: str, check_id: str
) -> list[Any]:
    """One error per key of ``value`` not in ``known``, naming the key (typos are
    the commonest configuration bug). ``where`` names the dict, e.g.
    ``"SMSVERIFY['CELERY']"``; the hint lists ``known`` in the order given."""
    known = list(known)
    return [
        Error(
            f"Unknown key {key!r} in {where}.",
            hint="Known keys: " + ", ".join(known) + ".",
            id=check_id,
        )
        for key in value
        if key not in known
    ]


@register(Tags.compatibility)
def check_backend(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    path = app_settings.SMS_BACKEND
    try:
        import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"SMS_BACKEND {path!r} cannot be imported: {exc}",
                hint="Set SMS_BACKEND to the dotted path of an SMS backend class, e.g. "
                "'django_smsverify.backends.console.SmsBackend'.",
                id="smsverify.E001",
            )
        ]
    return []


@register(Tags.compatibility)
def check_unknown_keys(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    raw = getattr(settings, "SMSVERIFY", {})
    if not isinstance(raw, dict):
        return [
            Error(
                "SMSVERIFY must be a dict.",
                hint="See the settings reference for the keys it accepts.",
                id="smsverify.E002",
            )
        ]
    errors += unknown_key_errors(raw, sorted(DEFAULTS), "SMSVERIFY", "smsverify.E002")
    for name, known in (
        ("SEND_LIMITS", SEND_LIMIT_KEYS),
        ("PASSWORD_LOGIN_LIMITS", PASSWORD_LOGIN_LIMIT_KEYS),
    ):
        limits = raw.get(name) or {}
        if isinstance(limits, dict):
            errors += unknown_key_errors(limits, known, f"SMSVERIFY[{name!r}]", "smsverify.E002")
    return errors


@register(Tags.security)
def check_code_ttl(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    ttl = _int_or_none("CODE_TTL")
    if ttl is not None and ttl > MAX_RECOMMENDED_TTL:
        return [
            Warning(
                f"SMSVERIFY['CODE_TTL'] is {ttl} seconds; codes should not live "
                f"longer than {MAX_RECOMMENDED_TTL}.",
                hint="NIST SP 800-63B and OWASP ASVS cap one-time codes at 10 minutes.",
                id="smsverify.W003",
            )
        ]
    return []


@register(Tags.caches)
def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if settings.DEBUG:
        return []
    alias = app_settings.CACHE
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend.endswith("locmem.LocMemCache") or backend.endswith("dummy.DummyCache"):
        return [
            Warning(
                f"SMSVERIFY['CACHE'] is {alias!r}, a per-process cache ({backend}).",
                hint="Codes, cooldowns and limits are not shared between worker processes. "
                "Use a Redis cache (django-redis or django.core.cache.backends.redis.RedisCache).",
                id="smsverify.W004",
            )
        ]
    return []


@register(Tags.security)
def check_test_numbers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if not app_settings.TEST_NUMBERS or settings.DEBUG or app_settings.ALLOW_TEST_NUMBERS:
        return []
    return [
        Error(
            "SMSVERIFY['TEST_NUMBERS'] is set while DEBUG is False.",
            hint="Anyone who knows a test number and its fixed code can use it. Remove "
            "TEST_NUMBERS, or set SMSVERIFY['ALLOW_TEST_NUMBERS'] = True if this is deliberate "
            "(for example for app-store review).",
            id="smsverify.E005",
        )
    ]


@register(Tags.compatibility)
def check_values(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    bounds = {
        "CODE_LENGTH": (4, 10),
        "CODE_TTL": (1, 86_400),
        "RESEND_COOLDOWN": (0, 86_400),
        "MAX_ATTEMPTS": (1, 1000),
    }
    for key, (low, high) in bounds.items():
        value = _user().get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(
                Error(
                    f"SMSVERIFY[{key!r}] must be a whole number from {low} to {high}; "
                    f"got {value!r}.",
                    id="smsverify.E006",
                )
            )
    for name in ("SEND_LIMITS", "PASSWORD_LOGIN_LIMITS"):
        raw_limits = _user().get(name)
        if raw_limits is not None and not isinstance(raw_limits, dict):
            errors.append(
                Error(
                    f"SMSVERIFY[{name!r}] must be a dict; got {raw_limits!r}.",
                    id="smsverify.E006",
                )
            )
            continue
        for key, value in getattr(app_settings, name).items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                errors.append(
                    Error(
                        f"SMSVERIFY[{name!r}][{key!r}] must be a positive whole number or None; "
                        f"got {value!r}.",
                        id="smsverify.E006",
                    )
                )
    records = _user().get("DELIVERY_RECORDS", DEFAULTS["DELIVERY_RECORDS"])
    if not isinstance(records, bool):
        errors.append(
            Error(
                f"SMSVERIFY['DELIVERY_RECORDS'] must be True or False; got {records!r}.",
                id="smsverify.E006",
            )
        )
    if app_settings.DELIVERY not in ("sync", "celery"):
        errors.append(
            Error(
                f"SMSVERIFY['DELIVERY'] must be 'sync' or 'celery'; got {app_settings.DELIVERY!r}.",
                id="smsverify.E006",
            )
        )
    return errors


@register(Tags.caches)
def check_cache_alias(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    alias = app_settings.CACHE
    if alias not in settings.CACHES:
        return [
            Error(
                f"SMSVERIFY['CACHE'] is {alias!r}, which is not in CACHES.",
                hint="Name an alias defined in settings.CACHES.",
                id="smsverify.E007",
            )
        ]
    return []


@register(Tags.compatibility)
def check_regions_and_numbers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    import phonenumbers

    errors: list[Any] = []
    known = phonenumbers.SUPPORTED_REGIONS
    regions = {app_settings.DEFAULT_REGION} | set(app_settings.ALLOWED_REGIONS or ())
    for region in sorted(regions):
        if region not in known:
            errors.append(
                Error(
                    f"{region!r} is not a region phonenumbers knows.",
                    hint="Use ISO 3166-1 alpha-2 codes such as 'CN', 'HK', 'US'.",
                    id="smsverify.E008",
                )
            )
    if errors:
        return errors
    from django_smsverify.phone import normalize

    length = _int_or_none("CODE_LENGTH")
    for raw, code in app_settings.TEST_NUMBERS.items():
        try:
            normalize(raw)
        except ValueError:
            errors.append(
                Error(
                    f"SMSVERIFY['TEST_NUMBERS'] has {raw!r}, which is not an accepted mobile "
                    "number.",
                    id="smsverify.E008",
                )
            )
        if not (isinstance(code, str) and code.isdigit() and len(code) == length):
            errors.append(
                Error(
                    f"The test code for {raw!r} must be a string of {length} digits.",
                    id="smsverify.E008",
                )
            )
    return errors


@register(Tags.compatibility)
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``SMSVERIFY["CELERY"]`` options (E401), and what ``DELIVERY = "celery"``
    needs: Celery installed (E402) and a cache the workers share (W401)."""
    errors: list[Any] = _celery_option_errors(_user().get("CELERY", DEFAULTS["CELERY"]))
    if app_settings.DELIVERY != "celery":
        return errors
    try:
        import celery  # noqa: F401
    except ImportError:
        errors.append(
            Error(
                "SMSVERIFY['DELIVERY'] is 'celery' but Celery is not installed.",
                hint='pip install "django-smsverify[celery]"',
                id="smsverify.E402",
            )
        )
    backend = settings.CACHES.get(app_settings.CACHE, {}).get("BACKEND", "")
    if backend.endswith(("locmem.LocMemCache", "dummy.DummyCache")):
        # Unlike W004 this holds with DEBUG on too: the worker, another
        # process, could never read the message the web process left for it.
        errors.append(
            Warning(
                f"SMSVERIFY['DELIVERY'] is 'celery' but SMSVERIFY['CACHE'] "
                f"({app_settings.CACHE!r}) is a per-process cache ({backend}).",
                hint="Celery workers run in other processes and find nothing to send. Use a "
                "Redis cache shared by the web processes and the workers.",
                id="smsverify.W401",
            )
        )
    return errors


def _celery_option_errors(value: Any) -> list[Any]:
    if not isinstance(value, dict):
        return [Error("SMSVERIFY['CELERY'] must be a dict.", id="smsverify.E401")]
    known = DEFAULTS["CELERY"]
    errors = unknown_key_errors(value, known, "SMSVERIFY['CELERY']", "smsverify.E401")
    merged = {**known, **{k: v for k, v in value.items() if k in known}}

    def bad(key: str, expected: str) -> None:
        errors.append(
            Error(
                f"SMSVERIFY['CELERY'][{key!r}] must be {expected}; got {merged[key]!r}.",
                id="smsverify.E401",
            )
        )

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    queue = merged["QUEUE"]
    if queue is not None and not (isinstance(queue, str) and queue.strip()):
        bad("QUEUE", "a queue name or None")
    priority = merged["PRIORITY"]
    if priority is not None and not (
        isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 255
    ):
        bad("PRIORITY", "a whole number from 0 to 255 or None")
    retries = merged["MAX_RETRIES"]
    if not (isinstance(retries, int) and not isinstance(retries, bool) and 0 <= retries <= 100):
        bad("MAX_RETRIES", "a whole number from 0 to 100")
    if not (number(merged["RETRY_BACKOFF"]) and merged["RETRY_BACKOFF"] > 0):
        bad("RETRY_BACKOFF", "a number of seconds above 0")
    if not (number(merged["RETRY_BACKOFF_MAX"]) and merged["RETRY_BACKOFF_MAX"] > 0):
        bad("RETRY_BACKOFF_MAX", "a number of seconds above 0")
    if not isinstance(merged["RETRY_JITTER"], bool):
        bad("RETRY_JITTER", "True or False")
    return errors


def _user() -> dict[str, Any]:
    raw = getattr(settings, "SMSVERIFY", {})
    return raw if isinstance(raw, dict) else {}


def _int_or_none(key: str) -> int | None:
    value = _user().get(key, DEFAULTS[key])
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Imported last: these modules register their checks and use the helpers above.
from django_smsverify.backends import checks as backend_checks  # noqa: E402, F401 - E1xx
from django_smsverify.captcha import checks as captcha_checks  # noqa: E402, F401 - E2xx/W2xx
from django_smsverify.contrib.rest_framework import checks as drf_checks  # noqa: E402, F401 - E5xx
