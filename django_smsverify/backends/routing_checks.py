"""System checks of ``SMSVERIFY["PROVIDERS"]`` and ``SMSVERIFY["ROUTING"]``.

Ids (registered by ``django_smsverify.checks``):

- ``smsverify.E601``: ``ROUTING`` is malformed (not a dict, an unknown key, a
  route key that is neither a region, a calling code nor ``"default"``, a
  route that is not a list of names, bad ``CIRCUIT_BREAKER`` or ``RATE_WAIT``);
- ``smsverify.E602``: a ``PROVIDERS`` entry is malformed (not a dict, an
  unknown key, no ``BACKEND``, a bad ``RATE_PER_SECOND``);
- ``smsverify.E603``: a ``PROVIDERS`` entry's ``BACKEND`` cannot be imported;
- ``smsverify.E604``: a route names a provider that ``PROVIDERS`` lacks;
- ``smsverify.E605``: a ``PROVIDERS`` entry is the routing backend itself;
- ``smsverify.E606``: ``SMS_BACKEND`` is the routing backend and ``ROUTES`` is empty;
- ``smsverify.W601``: the routing backend has no ``"default"`` route and
  ``ALLOWED_REGIONS`` lets in numbers no route covers (their sends fail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from django_smsverify.checks import unknown_key_errors
from django_smsverify.conf import CIRCUIT_BREAKER_KEYS, PROVIDER_KEYS, ROUTING_KEYS, app_settings

ROUTING_BACKEND = "django_smsverify.backends.routing.SmsBackend"

_CALLING_CODE = re.compile(r"^\+[1-9][0-9]{0,2}$")


def _raw(key: str) -> Any:
    raw = getattr(settings, "SMSVERIFY", None)
    return raw.get(key) if isinstance(raw, Mapping) else None


def _is_routing(path: Any) -> bool:
    from django_smsverify.backends.routing import SmsBackend

    try:
        backend = import_string(str(path))
    except ImportError:
        return False
    return isinstance(backend, type) and issubclass(backend, SmsBackend)


def _number(value: Any, *, minimum: float, integer: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if integer and not isinstance(value, int):
        return False
    return value >= minimum


@register(Tags.compatibility)
def check_providers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    providers = _raw("PROVIDERS")
    if providers is None:
        return []
    if not isinstance(providers, Mapping):
        return [
            Error(
                f"SMSVERIFY['PROVIDERS'] must be a dict; got {type(providers).__name__}.",
                id="smsverify.E602",
            )
        ]
    errors: list[Any] = []
    for name, entry in providers.items():
        where = f"SMSVERIFY['PROVIDERS'][{name!r}]"
        if not isinstance(entry, Mapping):
            errors.append(
                Error(
                    f"{where} must be a dict with 'BACKEND'; got {type(entry).__name__}.",
                    id="smsverify.E602",
                )
            )
            continue
        errors += unknown_key_errors(entry, PROVIDER_KEYS, where, "smsverify.E602")
        rate = entry.get("RATE_PER_SECOND")
        if rate is not None and not (_number(rate, minimum=0) and rate > 0):
            errors.append(
                Error(
                    f"{where}['RATE_PER_SECOND'] must be a number above 0 or None; got {rate!r}.",
                    id="smsverify.E602",
                )
            )
        path = entry.get("BACKEND")
        if not path or not isinstance(path, str):
            errors.append(
                Error(
                    f"{where} has no 'BACKEND'.",
                    hint="Give the dotted path of a backend class, e.g. "
                    "'django_smsverify.backends.tencent.SmsBackend'.",
                    id="smsverify.E602",
                )
            )
            continue
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(
                Error(
                    f"{where}['BACKEND'] {path!r} cannot be imported: {exc}",
                    hint="Check the path, and install the provider's extra "
                    '(pip install "django-smsverify[tencent]"...).',
                    id="smsverify.E603",
                )
            )
            continue
        if _is_routing(path):
            errors.append(
                Error(
                    f"{where}['BACKEND'] is the routing backend itself.",
                    hint="A route lists provider backends; it cannot route to itself.",
                    id="smsverify.E605",
                )
            )
    return errors


@register(Tags.compatibility)
def check_routing(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    routing = _raw("ROUTING")
    uses_routing = _is_routing(app_settings.SMS_BACKEND)
    if routing is None and not uses_routing:
        return []
    routing = {} if routing is None else routing
    if not isinstance(routing, Mapping):
        return [
            Error(
                f"SMSVERIFY['ROUTING'] must be a dict; got {type(routing).__name__}.",
                id="smsverify.E601",
            )
        ]
    errors = unknown_key_errors(routing, ROUTING_KEYS, "SMSVERIFY['ROUTING']", "smsverify.E601")
    errors += _breaker_errors(routing.get("CIRCUIT_BREAKER", {}))
    wait = routing.get("RATE_WAIT", 1.0)
    if not _number(wait, minimum=0):
        errors.append(
            Error(
                f"SMSVERIFY['ROUTING']['RATE_WAIT'] must be a number of seconds, 0 or more; "
                f"got {wait!r}.",
                id="smsverify.E601",
            )
        )
    routes = routing.get("ROUTES", {})
    if not isinstance(routes, Mapping):
        return [
            *errors,
            Error(
                "SMSVERIFY['ROUTING']['ROUTES'] must be a dict of region -> list of provider "
                f"names; got {type(routes).__name__}.",
                id="smsverify.E601",
            ),
        ]
    providers = _raw("PROVIDERS")
    known = set(providers) if isinstance(providers, Mapping) else set()
    regions = phonenumbers.SUPPORTED_REGIONS
    for key, names in routes.items():
        where = f"SMSVERIFY['ROUTING']['ROUTES'][{key!r}]"
        if key != "default" and key not in regions and not _CALLING_CODE.match(str(key)):
            errors.append(
                Error(
                    f"{where}: {key!r} is not a region code, a calling code or 'default'.",
                    hint="Use ISO region codes in capitals ('CN', 'GB'), calling codes "
                    "('+1') or 'default'.",
                    id="smsverify.E601",
                )
            )
        if (
            isinstance(names, (str, bytes))
            or not isinstance(names, (list, tuple))
            or not names
            or not all(isinstance(n, str) for n in names)
        ):
            errors.append(
                Error(
                    f"{where} must be a non-empty list of provider names; got {names!r}.",
                    id="smsverify.E601",
                )
            )
            continue
        for name in names:
            if name not in known:
                errors.append(
                    Error(
                        f"{where} names {name!r}, which is not in SMSVERIFY['PROVIDERS'].",
                        hint="Known providers: " + (", ".join(sorted(known)) or "none") + ".",
                        id="smsverify.E604",
                    )
                )
    if uses_routing:
        if not routes:
            errors.append(
                Error(
                    "SMS_BACKEND is the routing backend but SMSVERIFY['ROUTING']['ROUTES'] "
                    "is empty, so no SMS can be sent.",
                    hint='Add at least {"default": ["<provider name>"]}.',
                    id="smsverify.E606",
                )
            )
        elif "default" not in routes:
            errors += _uncovered_warning(routes)
    return errors


def _breaker_errors(breaker: Any) -> list[Any]:
    if breaker is None:
        return []
    where = "SMSVERIFY['ROUTING']['CIRCUIT_BREAKER']"
    if not isinstance(breaker, Mapping):
        return [
            Error(
                f"{where} must be a dict or None; got {type(breaker).__name__}.",
                id="smsverify.E601",
            )
        ]
    errors = unknown_key_errors(breaker, CIRCUIT_BREAKER_KEYS, where, "smsverify.E601")
    for key in CIRCUIT_BREAKER_KEYS:
        value = breaker.get(key, 1)
        if not _number(value, minimum=1, integer=key == "FAILURES"):
            errors.append(
                Error(
                    f"{where}[{key!r}] must be "
                    + ("a whole number" if key == "FAILURES" else "a number of seconds")
                    + f", 1 or more; got {value!r}.",
                    id="smsverify.E601",
                )
            )
    return errors


def _uncovered_warning(routes: Mapping[str, Any]) -> list[Any]:
    allowed = app_settings.ALLOWED_REGIONS
    if allowed is None:
        missing = ["every region not listed"]
    else:
        missing = sorted(
            region
            for region in allowed
            if region not in routes
            and f"+{phonenumbers.country_code_for_region(region)}" not in routes
        )
        if not missing:
            return []
    return [
        Warning(
            "SMSVERIFY['ROUTING']['ROUTES'] has no 'default' route, so sends to numbers "
            f"no route covers fail ({', '.join(missing)}).",
            hint="Add a 'default' route, or a route for every region of ALLOWED_REGIONS.",
            id="smsverify.W601",
        )
    ]
