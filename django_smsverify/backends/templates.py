"""Template choice and parameter order for the template-based providers.

Ronglian and Tencent Cloud never send free text: they send a template the
provider approved beforehand, filled with a list of values. Which template is
used, and which values go into it in which order, can be set per purpose in
the provider's settings block::

    "TEMPLATE_ID": {"register": "1001", "login": "1002", "default": "1003"},
    "TEMPLATE_PARAMS": {"login": ["code"], "default": ["code", "minutes"]},

A plain string (or list) applies to every purpose. The values come from
``SmsMessage.params``, which the app fills as ``[code, minutes]``.

Notices (the SMS sent instead of a code when ``PREVENT_ENUMERATION`` hides
whether a number is registered, and the one telling the old number of a phone
change) carry no code, so they need templates of their own, with no values::

    "NOTICE_TEMPLATE_ID": {"registered": "2001", "unregistered": "2002",
                           "phone_changed": "2003"},

A notice's ``SmsMessage.purpose`` is ``"notice_"`` plus its kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django_smsverify.conf import PURPOSES
from django_smsverify.exceptions import SmsConfigurationError, SmsSendError
from django_smsverify.message import SmsMessage

#: Names usable in ``TEMPLATE_PARAMS``, in the order ``SmsMessage.params`` holds them.
PARAM_NAMES: tuple[str, ...] = ("code", "minutes")

#: What a template receives when ``TEMPLATE_PARAMS`` is not set.
DEFAULT_PARAM_ORDER: tuple[str, ...] = ("code", "minutes")

#: Keys a per-purpose dict may have.
PURPOSE_KEYS: tuple[str, ...] = (*PURPOSES, "default")

#: Kinds of notice, the keys of ``NOTICE_TEMPLATE_ID``: a sign-up or new-number
#: code asked for a registered number, a login or reset code asked for a number
#: no account uses, and the old number of an account whose number changed.
NOTICE_KINDS: tuple[str, ...] = ("registered", "unregistered", "phone_changed")

#: The notice kinds that ``PREVENT_ENUMERATION`` sends instead of codes.
ENUMERATION_NOTICE_KINDS: tuple[str, ...] = ("registered", "unregistered")

_NOTICE_PREFIX = "notice_"


def notice_kind(message: SmsMessage) -> str | None:
    """The notice kind of ``message`` (``"registered"``, ...), or None for a code."""
    purpose = message.purpose or ""
    return purpose[len(_NOTICE_PREFIX) :] if purpose.startswith(_NOTICE_PREFIX) else None


def per_purpose(value: Any, purpose: str | None) -> Any:
    """The entry of ``value`` for ``purpose`` when it is a dict (else ``value`` itself)."""
    if isinstance(value, Mapping):
        if purpose is not None and purpose in value:
            return value[purpose]
        return value.get("default")
    return value


def template_for(config: Mapping[str, Any], message: SmsMessage, setting: str) -> str:
    """The template id to send ``message`` with.

    ``message.template_id`` wins; otherwise ``TEMPLATE_ID`` (or its entry for
    the message's purpose). ``setting`` names the settings block in errors,
    e.g. ``"SMSVERIFY['RONGLIAN']"``.
    """
    if message.template_id:
        return str(message.template_id)
    kind = notice_kind(message)
    if kind is not None:
        # Never the code's template: it needs a code this message does not have.
        notices = config.get("NOTICE_TEMPLATE_ID")
        template = notices.get(kind) if isinstance(notices, Mapping) else notices
        if template is None or str(template).strip() == "":
            raise SmsConfigurationError(
                f"{setting}['NOTICE_TEMPLATE_ID'] has no template for the {kind!r} notice. "
                "Have a template without values approved for it and give its id, e.g. "
                f"{{{kind!r}: '2001'}}."
            )
        return str(template)
    template = per_purpose(config.get("TEMPLATE_ID"), message.purpose)
    if template is None or str(template).strip() == "":
        purpose = message.purpose or "default"
        raise SmsConfigurationError(
            f"{setting}['TEMPLATE_ID'] has no template for purpose {purpose!r}. Give one "
            "template id for every purpose, or a dict with an entry for this purpose or "
            "a 'default' entry."
        )
    return str(template)


def params_for(config: Mapping[str, Any], message: SmsMessage, provider: str) -> list[str]:
    """The template values of ``message``, in the order its template wants them.

    When the caller chose its own ``template_id`` it also chose the values, so
    they are sent exactly as given. Otherwise ``TEMPLATE_PARAMS`` (per purpose)
    picks and orders them by name from ``message.params``.
    """
    if message.template_id or notice_kind(message) is not None:
        return list(message.params)
    order = per_purpose(config.get("TEMPLATE_PARAMS"), message.purpose)
    if order is None:
        order = DEFAULT_PARAM_ORDER
    values = dict(zip(PARAM_NAMES, message.params, strict=False))
    missing = [name for name in order if name not in values]
    if missing:
        # A caller bug (a message built without the values), not a provider
        # failure; permanent, since sending it again cannot help.
        raise SmsSendError(
            f"the message has no {', '.join(missing)} value for its template "
            f"(it carries {len(message.params)} param(s))",
            provider=provider,
            transient=False,
        )
    return [values[name] for name in order]


def template_setting_problems(value: Any, *, required: bool = True) -> list[str]:
    """Why a ``TEMPLATE_ID`` setting is unusable (an empty list when it is fine)."""
    if value is None:
        return ["is missing"] if required else []
    if isinstance(value, Mapping):
        problems = [
            f"has unknown purpose {key!r} (use {', '.join(PURPOSE_KEYS)})"
            for key in value
            if key not in PURPOSE_KEYS
        ]
        problems += [
            f"has an empty template id for {key!r}"
            for key, item in value.items()
            if key in PURPOSE_KEYS and not _is_template_id(item)
        ]
        if not value:
            problems.append("is an empty dict")
        return problems
    if not _is_template_id(value):
        return ["is empty" if value == "" else "must be a template id (a string) or a dict"]
    return []


def notice_template_problems(value: Any, required: Sequence[str]) -> list[str]:
    """Why a ``NOTICE_TEMPLATE_ID`` setting is unusable, given the notice kinds
    that must have a template (an empty list when it is fine)."""
    if value is None:
        return [f"is missing (needed for the {_kinds(required)} notice)"] if required else []
    if isinstance(value, Mapping):
        problems = [
            f"has unknown notice kind {key!r} (use {', '.join(NOTICE_KINDS)})"
            for key in value
            if key not in NOTICE_KINDS
        ]
        problems += [
            f"has an empty template id for {key!r}"
            for key, item in value.items()
            if key in NOTICE_KINDS and not _is_template_id(item)
        ]
        missing = [kind for kind in required if kind not in value]
        if missing:
            problems.append(f"has no template for the {_kinds(missing)} notice")
        return problems
    if not _is_template_id(value):
        return ["is empty" if value == "" else "must be a template id (a string) or a dict"]
    return []


def _kinds(kinds: Sequence[str]) -> str:
    return " and ".join(repr(kind) for kind in kinds)


def param_order_problems(value: Any) -> list[str]:
    """Why a ``TEMPLATE_PARAMS`` setting is unusable (an empty list when it is fine)."""
    if value is None:
        return []
    orders = value.items() if isinstance(value, Mapping) else [(None, value)]
    problems: list[str] = []
    for key, order in orders:
        where = "" if key is None else f" for {key!r}"
        if key is not None and key not in PURPOSE_KEYS:
            problems.append(f"has unknown purpose {key!r} (use {', '.join(PURPOSE_KEYS)})")
        elif isinstance(order, str) or not isinstance(order, (list, tuple)):
            problems.append(f"must be a list of names{where}, like ['code', 'minutes']")
        else:
            problems += [
                f"has unknown name {name!r}{where} (use {', '.join(PARAM_NAMES)})"
                for name in order
                if name not in PARAM_NAMES
            ]
    return problems


def _is_template_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip() != ""
