"""System checks. Ids: ``smsverify.E0xx``/``W0xx`` core, ``E1xx`` providers,
``E2xx`` captcha, ``E3xx`` web. Each id has a test in ``tests/test_checks.py``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from django_smsverify.backends import checks as backend_checks  # noqa: F401 - registers E1xx
from django_smsverify.captcha import checks as captcha_checks  # noqa: F401 - registers E2xx/W2xx
from django_smsverify.conf import DEFAULTS, SEND_LIMIT_KEYS, app_settings

# NIST SP 800-63B (5.1.3) and OWASP ASVS (2.7) cap out-of-band codes at 10 minutes.
MAX_RECOMMENDED_TTL = 600


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
    for key in raw:
        if key not in DEFAULTS:
            errors.append(
                Error(
                    f"Unknown key {key!r} in SMSVERIFY.",
                    hint="Known keys: " + ", ".join(sorted(DEFAULTS)) + ".",
                    id="smsverify.E002",
                )
            )
    limits = raw.get("SEND_LIMITS") or {}
    if isinstance(limits, dict):
        for key in limits:
            if key not in SEND_LIMIT_KEYS:
                errors.append(
                    Error(
                        f"Unknown key {key!r} in SMSVERIFY['SEND_LIMITS'].",
                        hint="Known keys: " + ", ".join(SEND_LIMIT_KEYS) + ".",
                        id="smsverify.E002",
                    )
                )
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
    for key, value in app_settings.SEND_LIMITS.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            errors.append(
                Error(
                    f"SMSVERIFY['SEND_LIMITS'][{key!r}] must be a positive whole number or None; "
                    f"got {value!r}.",
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


def _user() -> dict[str, Any]:
    raw = getattr(settings, "SMSVERIFY", {})
    return raw if isinstance(raw, dict) else {}


def _int_or_none(key: str) -> int | None:
    value = _user().get(key, DEFAULTS[key])
    return value if isinstance(value, int) and not isinstance(value, bool) else None
