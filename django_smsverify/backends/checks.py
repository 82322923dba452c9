"""System checks of the provider settings blocks, run only for the configured provider.

Ids: ``smsverify.E101``-``E107`` and ``W107`` for ``SMSVERIFY["RONGLIAN"]``,
``smsverify.E111``-``E118`` and ``W118`` for ``SMSVERIFY["TENCENT"]``. Registered by
``django_smsverify.checks``. Each message names the exact setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from django_smsverify.backends.templates import (
    ENUMERATION_NOTICE_KINDS,
    notice_template_problems,
    param_order_problems,
    template_setting_problems,
)
from django_smsverify.checks import unknown_key_errors
from django_smsverify.conf import app_settings

RONGLIAN_CREDENTIALS = {"ACCOUNT_SID": "E101", "AUTH_TOKEN": "E102", "APP_ID": "E103"}
TENCENT_CREDENTIALS = {
    "SECRET_ID": "E111",
    "SECRET_KEY": "E112",
    "SDK_APP_ID": "E113",
    "SIGN_NAME": "E114",
}

_CONSOLE_HINTS = {
    "RONGLIAN": "Find it in the Ronglian (容联云) console, under the account overview.",
    "TENCENT": "Find it in the Tencent Cloud console (CAM API keys, SMS application, "
    "approved signatures).",
}


@register(Tags.compatibility)
def check_ronglian_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    backend = _configured_backend("ronglian")
    if backend is None:
        return []
    block = "RONGLIAN"
    raw, errors = _block(block, "E105")
    if raw is None:
        return errors
    for key, check_id in RONGLIAN_CREDENTIALS.items():
        errors += _credential(raw, block, key, check_id)
    errors += _template(raw, block, "E104")
    errors += _unknown_keys(raw, block, backend, "E105")
    base_url = raw.get("BASE_URL")
    if base_url is not None:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            errors.append(
                _error(
                    block,
                    "BASE_URL",
                    f"must be a URL like 'https://app.cloopen.com:8883'; got {base_url!r}",
                    "E106",
                    hint="The sandbox is 'https://sandboxapp.cloopen.com:8883'.",
                )
            )
    errors += _timeout(raw, block, "E106")
    errors += _param_order(raw, block, "E106")
    errors += _notice_templates(raw, block, "E107", "W107")
    return errors


@register(Tags.compatibility)
def check_tencent_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    backend = _configured_backend("tencent")
    if backend is None:
        return []
    block = "TENCENT"
    raw, errors = _block(block, "E116")
    if raw is None:
        return errors
    for key, check_id in TENCENT_CREDENTIALS.items():
        errors += _credential(raw, block, key, check_id)
    errors += _template(raw, block, "E115")
    errors += _unknown_keys(raw, block, backend, "E116")
    endpoint = raw.get("ENDPOINT")
    if endpoint is not None and (not str(endpoint).strip() or "://" in str(endpoint)):
        errors.append(
            _error(
                block,
                "ENDPOINT",
                f"must be host[:port] without a scheme; got {endpoint!r}",
                "E117",
                hint="Use SCHEME to choose http or https.",
            )
        )
    scheme = raw.get("SCHEME")
    if scheme is not None and str(scheme).lower() not in ("http", "https"):
        errors.append(_error(block, "SCHEME", f"must be 'http' or 'https'; got {scheme!r}", "E117"))
    region = raw.get("REGION")
    if region is not None and not str(region).strip():
        errors.append(_error(block, "REGION", "is empty", "E117", hint="e.g. 'ap-guangzhou'."))
    errors += _timeout(raw, block, "E117")
    errors += _param_order(raw, block, "E117")
    errors += _notice_templates(raw, block, "E118", "W118")
    return errors


def _configured_backend(provider: str) -> Any:
    """The SMS_BACKEND class when it is (a subclass of) ``provider``'s backend."""
    try:
        backend = import_string(app_settings.SMS_BACKEND)
    except ImportError:
        return None  # smsverify.E001 reports it
    return backend if getattr(backend, "provider_name", None) == provider else None


def _block(block: str, check_id: str) -> tuple[Mapping[str, Any] | None, list[Any]]:
    raw = getattr(settings, "SMSVERIFY", None)
    raw = raw if isinstance(raw, Mapping) else {}
    value = raw.get(block, {})
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        return None, [
            Error(
                f"SMSVERIFY[{block!r}] must be a dict; got {type(value).__name__}.",
                id=f"smsverify.{check_id}",
            )
        ]
    return value, []


def _error(block: str, key: str, problem: str, check_id: str, hint: str | None = None) -> Error:
    return Error(f"SMSVERIFY[{block!r}][{key!r}] {problem}.", hint=hint, id=f"smsverify.{check_id}")


def _credential(raw: Mapping[str, Any], block: str, key: str, check_id: str) -> list[Any]:
    value = raw.get(key)
    if key not in raw or value is None:
        problem = "is missing"
    elif not isinstance(value, (str, int)) or isinstance(value, bool):
        problem = f"must be a string; got {type(value).__name__}"
    elif str(value).strip() == "":
        problem = "is empty"
    elif str(value) != str(value).strip():
        problem = "has leading or trailing whitespace"
    else:
        return []
    return [_error(block, key, problem, check_id, hint=_CONSOLE_HINTS[block])]


def _template(raw: Mapping[str, Any], block: str, check_id: str) -> list[Any]:
    return [
        _error(
            block,
            "TEMPLATE_ID",
            problem,
            check_id,
            hint="One approved template id, or a dict of them keyed by purpose "
            "('register', 'login', 'reset_password', 'change_phone', 'default').",
        )
        for problem in template_setting_problems(raw.get("TEMPLATE_ID"))
    ]


def _unknown_keys(raw: Mapping[str, Any], block: str, backend: Any, check_id: str) -> list[Any]:
    return unknown_key_errors(
        raw, backend.default_settings, f"SMSVERIFY[{block!r}]", f"smsverify.{check_id}"
    )


def _timeout(raw: Mapping[str, Any], block: str, check_id: str) -> list[Any]:
    value = raw.get("TIMEOUT")
    if value is None:
        return []
    parts = list(value) if isinstance(value, (list, tuple)) else [value]
    valid = len(parts) in (1, 2) and all(
        isinstance(part, (int, float)) and not isinstance(part, bool) and part > 0 for part in parts
    )
    if valid:
        return []
    return [
        _error(
            block,
            "TIMEOUT",
            f"must be a positive number of seconds or a (connect, read) pair; got {value!r}",
            check_id,
        )
    ]


def _param_order(raw: Mapping[str, Any], block: str, check_id: str) -> list[Any]:
    return [
        _error(block, "TEMPLATE_PARAMS", problem, check_id)
        for problem in param_order_problems(raw.get("TEMPLATE_PARAMS"))
    ]


_NOTICE_HINT = (
    "Template providers send approved templates only, and a notice carries no code, so "
    "it needs a template of its own (with no values), e.g. "
    "{'registered': '2001', 'unregistered': '2002', 'phone_changed': '2003'}."
)


def _notice_templates(
    raw: Mapping[str, Any], block: str, error_id: str, warning_id: str
) -> list[Any]:
    # With PREVENT_ENUMERATION a registered number (sign-up) or an unknown
    # one (login, reset) gets a notice instead of a code; without its
    # template the send fails, and the answer would differ from a code's.
    required = ENUMERATION_NOTICE_KINDS if app_settings.PREVENT_ENUMERATION else ()
    value = raw.get("NOTICE_TEMPLATE_ID")
    problems: list[Any] = [
        _error(block, "NOTICE_TEMPLATE_ID", problem, error_id, hint=_NOTICE_HINT)
        for problem in notice_template_problems(value, required)
    ]
    if not problems and not (
        isinstance(value, str) or (isinstance(value, Mapping) and "phone_changed" in value)
    ):
        problems.append(
            Warning(
                f"SMSVERIFY[{block!r}]['NOTICE_TEMPLATE_ID'] has no template for the "
                "'phone_changed' notice, so the old number of an account is not told when "
                "the account moves to a new number.",
                hint=_NOTICE_HINT,
                id=f"smsverify.{warning_id}",
            )
        )
    return problems
