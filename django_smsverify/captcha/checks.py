"""System checks of the captcha settings: ``smsverify.E201``-``E205``, ``W201``.

Registered by importing this module from :mod:`django_smsverify.checks`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from django_smsverify.checks import unknown_key_errors
from django_smsverify.conf import DEFAULTS

# Inclusive bounds of the whole-number options.
BOUNDS = {
    "LENGTH": (3, 8),
    "TTL": (10, 3600),
    "WIDTH": (40, 1000),
    "HEIGHT": (20, 400),
}

# Whole numbers in these bounds, or None (the limit is off).
LIMIT_BOUNDS = {
    "CREATE_PER_MINUTE": (1, 100_000),
    "CREATE_PER_HOUR": (1, 1_000_000),
}


def _raw() -> Any:
    user = getattr(settings, "SMSVERIFY", None)
    if not isinstance(user, dict):
        return DEFAULTS["CAPTCHA"]
    return user.get("CAPTCHA", DEFAULTS["CAPTCHA"])


def _options() -> dict[str, Any]:
    raw = _raw()
    merged = dict(DEFAULTS["CAPTCHA"])
    if isinstance(raw, dict):
        merged.update(raw)
    elif isinstance(raw, bool):
        merged["ENABLED"] = raw
    return merged


@register(Tags.security)
def check_test_mode(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E201: the captcha test mode is on while ``DEBUG`` is False."""
    if settings.DEBUG or _options().get("TEST_MODE") is not True:
        return []
    return [
        Error(
            "SMSVERIFY['CAPTCHA']['TEST_MODE'] is on while DEBUG is False.",
            hint="Anyone can pass the captcha with the fixed TEST_ANSWER. Turn test mode on "
            "only inside tests (override_settings), or silence smsverify.E201 in a settings "
            "module used only for tests.",
            id="smsverify.E201",
        )
    ]


@register(Tags.compatibility)
def check_shape(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E202: ``CAPTCHA`` is neither a bool nor a dict, or has unknown keys."""
    raw = _raw()
    known = list(DEFAULTS["CAPTCHA"])
    if isinstance(raw, bool):
        return []
    if not isinstance(raw, dict):
        return [
            Error(
                f"SMSVERIFY['CAPTCHA'] must be True, False or a dict; got {raw!r}.",
                hint="Known keys of the dict: " + ", ".join(known) + ".",
                id="smsverify.E202",
            )
        ]
    return unknown_key_errors(raw, known, "SMSVERIFY['CAPTCHA']", "smsverify.E202")


@register(Tags.compatibility)
def check_values(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E203: an option of ``CAPTCHA`` has a wrong type or is out of range."""
    options = _options()
    errors: list[Any] = []
    for key in ("ENABLED", "TEST_MODE"):
        if not isinstance(options[key], bool):
            errors.append(
                Error(
                    f"SMSVERIFY['CAPTCHA'][{key!r}] must be True or False; got {options[key]!r}.",
                    id="smsverify.E203",
                )
            )
    for key, (low, high) in BOUNDS.items():
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(
                Error(
                    f"SMSVERIFY['CAPTCHA'][{key!r}] must be a whole number from {low} to "
                    f"{high}; got {value!r}.",
                    id="smsverify.E203",
                )
            )
    for key, (low, high) in LIMIT_BOUNDS.items():
        value = options[key]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(
                Error(
                    f"SMSVERIFY['CAPTCHA'][{key!r}] must be None or a whole number from {low} "
                    f"to {high}; got {value!r}.",
                    id="smsverify.E203",
                )
            )
    answer = options["TEST_ANSWER"]
    if not isinstance(answer, str) or not answer.strip():
        errors.append(
            Error(
                f"SMSVERIFY['CAPTCHA']['TEST_ANSWER'] must be a non-empty string; got {answer!r}.",
                id="smsverify.E203",
            )
        )
    return errors


@register(Tags.compatibility)
def check_freetype(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E204: the captcha is on but Pillow was built without FreeType."""
    from PIL import features

    if _options().get("ENABLED") is False or features.check("freetype2"):
        return []
    return [
        Error(
            "The captcha is on, but Pillow was built without FreeType, so it cannot draw "
            "scalable text.",
            hint="Install Pillow from its wheels (pip install --force-reinstall Pillow), or "
            "build it with libfreetype.",
            id="smsverify.E204",
        )
    ]


@register(Tags.security)
def check_disabled(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """W201: the captcha is off while ``DEBUG`` is False."""
    if settings.DEBUG or _options().get("ENABLED") is not False:
        return []
    return [
        Warning(
            "SMSVERIFY['CAPTCHA'] is off while DEBUG is False: anyone can have codes sent "
            "without solving a captcha.",
            hint="Each SMS costs money and can flood a stranger's phone. Keep the captcha on, "
            "or silence smsverify.W201 if another check protects the send-code endpoint.",
            id="smsverify.W201",
        )
    ]


@register(Tags.compatibility)
def check_human_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E205: ``HUMAN_CHECK`` cannot be imported or is not a ``HumanCheck`` subclass."""
    from django.core.exceptions import ImproperlyConfigured

    from django_smsverify.captcha.human import load_human_check

    user = getattr(settings, "SMSVERIFY", None)
    path = (user if isinstance(user, dict) else {}).get("HUMAN_CHECK", DEFAULTS["HUMAN_CHECK"])
    if not isinstance(path, str):
        return [
            Error(
                f"SMSVERIFY['HUMAN_CHECK'] must be a dotted path; got {path!r}.",
                id="smsverify.E205",
            )
        ]
    try:
        load_human_check(path)
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Name a subclass of django_smsverify.captcha.HumanCheck, or leave "
                "HUMAN_CHECK out for the image captcha.",
                id="smsverify.E205",
            )
        ]
    return []
