"""System checks of how the app meets the site's user model: where numbers
live (``USER_PHONE_FIELD``, ``USER_PHONE_FORMAT``: ``smsverify.E009``,
``smsverify.W012``, ``smsverify.E006``) and what the adapter fills when it
creates a user (``smsverify.W011``). Tests: ``tests/test_account_checks.py``
and, for a tutorial-style user model, ``tests/tutorialsite/test_checks.py``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from django_smsverify.conf import USER_PHONE_FORMATS, app_settings

#: Characters of the longest E.164 number: "+" and 15 digits.
E164_MAX = 16


@register(Tags.models)
def check_user_phone_field(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    fmt = app_settings.USER_PHONE_FORMAT
    if fmt not in USER_PHONE_FORMATS:
        return [
            Error(
                f"SMSVERIFY['USER_PHONE_FORMAT'] must be 'e164' or 'national'; got {fmt!r}.",
                id="smsverify.E006",
            )
        ]
    name = app_settings.USER_PHONE_FIELD
    if not name:
        return []
    user_model = get_user_model()
    label = user_model._meta.label
    try:
        field = user_model._meta.get_field(name)
    except FieldDoesNotExist:
        return [
            Error(
                f"SMSVERIFY['USER_PHONE_FIELD'] is {name!r}, which is not a field of {label}.",
                hint="Name the user model's field that holds each user's mobile number, or "
                "remove the setting to keep numbers in the app's PhoneNumber table.",
                id="smsverify.E009",
            )
        ]
    if not isinstance(field, models.CharField):
        return [
            Error(
                f"SMSVERIFY['USER_PHONE_FIELD'] is {label}.{name}, which is a "
                f"{type(field).__name__}, not a CharField.",
                hint="Numbers are stored as text (a leading zero or '+' must survive).",
                id="smsverify.E009",
            )
        ]
    needed = E164_MAX
    if (
        fmt == "national"
        and frozenset({app_settings.DEFAULT_REGION}) == app_settings.ALLOWED_REGIONS
    ):
        # Every accepted number is national digits of DEFAULT_REGION; 15 is
        # the most the numbering plan allows, and CN numbers take 11.
        needed = _national_length(app_settings.DEFAULT_REGION)
    errors: list[Any] = []
    if field.max_length is not None and field.max_length < needed:
        hint = (
            "Set SMSVERIFY['USER_PHONE_FORMAT'] = 'national' to store national digits, "
            "or widen the field."
            if fmt == "e164"
            else "Numbers of other regions are stored in E.164; widen the field or limit "
            "ALLOWED_REGIONS to DEFAULT_REGION."
        )
        errors.append(
            Error(
                f"{label}.{name} holds at most {field.max_length} characters; numbers in the "
                f"{fmt!r} format need {needed}.",
                hint=hint,
                id="smsverify.E009",
            )
        )
    if not field.unique:
        errors.append(
            Warning(
                f"SMSVERIFY['USER_PHONE_FIELD'] is {label}.{name}, which is not unique.",
                hint="Without a unique constraint two accounts racing for one number can both "
                "get it. Add unique=True (a migration).",
                id="smsverify.W012",
            )
        )
    return errors


def _national_length(region: str) -> int:
    import phonenumbers

    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return len(str(example.national_number)) if example else 15


@register(Tags.models)
def check_new_user_fields(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """W011: fields a sign-up would leave empty that the user model requires
    (NOT NULL, or blank=False) or keeps unique (the second empty value
    collides, and every sign-up after the first fails)."""
    import phonenumbers

    from django_smsverify.adapter import get_adapter

    example = phonenumbers.example_number_for_type(
        app_settings.DEFAULT_REGION, phonenumbers.PhoneNumberType.MOBILE
    )
    if example is None:
        return []
    phone = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    try:
        user = get_adapter().new_user(None, phone)
    except Exception:
        # A site's own adapter failing here is for its tests to find, not
        # for a check to turn into a crash of every manage.py command.
        return []
    user_model = type(user)
    # Set by create_user() and by logging in, not at construction.
    later = {"password", "last_login"}
    problems = []
    for field in user_model._meta.concrete_fields:
        if field.primary_key or field.name in later:
            continue
        value = getattr(user, field.attname, None)
        if value is None and not field.null:
            problems.append(f"{field.name} (required)")
        elif value == "" and field.unique:
            problems.append(f"{field.name} (unique)")
        elif value == "" and not field.blank:
            problems.append(f"{field.name} (required)")
    if not problems:
        return []
    return [
        Warning(
            f"A user created by SMS sign-up leaves {', '.join(problems)} of "
            f"{user_model._meta.label} empty.",
            hint="If one of them holds the number, set SMSVERIFY['USER_PHONE_FIELD'] to it. "
            "Otherwise fill them in your adapter's new_user() (SMSVERIFY['ADAPTER']); with a "
            "unique field left empty every sign-up after the first fails.",
            id="smsverify.W011",
        )
    ]
