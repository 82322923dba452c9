"""System checks of the provider settings blocks, run only for the configured provider.

Ids: ``smsverify.E101``-``E107`` and ``W107`` for ``SMSVERIFY["RONGLIAN"]``,
``smsverify.E111``-``E118`` and ``W118`` for ``SMSVERIFY["TENCENT"]``,
``smsverify.E120``-``E126`` and ``W126`` for ``SMSVERIFY["ALIYUN"]``,
``smsverify.E130``-``E136`` for ``SMSVERIFY["TWILIO"]``. Registered by
``django_smsverify.checks``. Each message names the exact setting.
"""

from __future__ import annotations

import re
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
TWILIO_CREDENTIALS = {"ACCOUNT_SID": "E130", "AUTH_TOKEN": "E131"}
#: A Twilio ``From``: an E.164 number, or an alphanumeric sender id (1 to 11
#: letters, digits and spaces, at least one letter) where the country allows one.
TWILIO_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
TWILIO_ALPHANUMERIC = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
ALIYUN_CREDENTIALS = {"ACCESS_KEY_ID": "E120", "ACCESS_KEY_SECRET": "E121", "SIGN_NAME": "E122"}
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
    "ALIYUN": "Find it in the Aliyun console (RAM AccessKey; SMS service, 国内消息, "
    "签名管理 for the approved signature).",
    "TWILIO": "Find it in the Twilio console, under Account Info on the account dashboard.",
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


@register(Tags.compatibility)
def check_aliyun_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    backend = _configured_backend("aliyun")
    if backend is None:
        return []
    # Imported here: the module needs the [aliyun] extra, and the backend
    # class above imported, so it is installed.
    from django_smsverify.backends.aliyun import parse_endpoint, template_params_problems
    from django_smsverify.exceptions import SmsConfigurationError

    block = "ALIYUN"
    raw, errors = _block(block, "E124")
    if raw is None:
        return errors
    for key, check_id in ALIYUN_CREDENTIALS.items():
        errors += _credential(raw, block, key, check_id)
    errors += _template(raw, block, "E123")
    errors += _unknown_keys(raw, block, backend, "E124")
    endpoint = raw.get("ENDPOINT")
    if endpoint is not None:
        try:
            if not str(endpoint).strip():
                raise SmsConfigurationError("empty")
            parse_endpoint(endpoint)
        except SmsConfigurationError:
            errors.append(
                _error(
                    block,
                    "ENDPOINT",
                    f"must be a host name or an http(s) URL without a path; got {endpoint!r}",
                    "E125",
                    hint="The default is 'dysmsapi.aliyuncs.com'.",
                )
            )
    region = raw.get("REGION_ID")
    if region is not None and not str(region).strip():
        errors.append(_error(block, "REGION_ID", "is empty", "E125", hint="e.g. 'cn-hangzhou'."))
    errors += _timeout(raw, block, "E125")
    errors += [
        _error(
            block,
            "TEMPLATE_PARAMS",
            problem,
            "E125",
            hint="Map each variable of the template to 'code' or 'minutes', e.g. "
            "{'code': 'code'} for a template with ${code}.",
        )
        for problem in template_params_problems(raw.get("TEMPLATE_PARAMS"))
    ]
    errors += _notice_templates(raw, block, "E126", "W126")
    return errors


@register(Tags.compatibility)
def check_twilio_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    backend = _configured_backend("twilio")
    if backend is None:
        return []
    block = "TWILIO"
    raw, errors = _block(block, "E135")
    if raw is None:
        return errors
    sid_errors = _credential(raw, block, "ACCOUNT_SID", TWILIO_CREDENTIALS["ACCOUNT_SID"])
    errors += sid_errors + _credential(raw, block, "AUTH_TOKEN", TWILIO_CREDENTIALS["AUTH_TOKEN"])
    account_sid = raw.get("ACCOUNT_SID")
    if not sid_errors and not str(account_sid).startswith("AC"):
        errors.append(
            _error(
                block,
                "ACCOUNT_SID",
                f"must be an Account SID starting with 'AC'; got {str(account_sid)[:2]!r}...",
                "E130",
                hint=_CONSOLE_HINTS[block],
            )
        )
    sender = raw.get("FROM")
    service = raw.get("MESSAGING_SERVICE_SID")
    has_sender = sender is not None and str(sender).strip() != ""
    has_service = service is not None and str(service).strip() != ""
    if has_sender == has_service:
        errors.append(
            Error(
                f"SMSVERIFY[{block!r}] must set exactly one of 'FROM' and "
                f"'MESSAGING_SERVICE_SID'; {'both are' if has_sender else 'neither is'} set.",
                hint="FROM is a Twilio phone number in E.164 form ('+15017122661'); "
                "MESSAGING_SERVICE_SID ('MG...') lets the Messaging Service pick the sender.",
                id="smsverify.E132",
            )
        )
    if has_sender and not (
        isinstance(sender, str)
        and (TWILIO_E164.fullmatch(sender) or TWILIO_ALPHANUMERIC.fullmatch(sender))
    ):
        errors.append(
            _error(
                block,
                "FROM",
                f"must be a number in E.164 form or an alphanumeric sender id; got {sender!r}",
                "E133",
                hint="Write it with '+' and the country code, no spaces: '+15017122661'.",
            )
        )
    if has_service and not (isinstance(service, str) and service.startswith("MG")):
        errors.append(
            _error(
                block,
                "MESSAGING_SERVICE_SID",
                f"must be a Messaging Service SID starting with 'MG'; got {service!r}",
                "E134",
            )
        )
    errors += _unknown_keys(raw, block, backend, "E135")
    base_url = raw.get("BASE_URL")
    if base_url is not None:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            errors.append(
                _error(
                    block,
                    "BASE_URL",
                    f"must be a URL like 'http://127.0.0.1:8080'; got {base_url!r}",
                    "E136",
                    hint="BASE_URL is for tests (a fake Twilio server); leave it out otherwise.",
                )
            )
    errors += _timeout(raw, block, "E136")
    return errors


def _configured_backend(provider: str) -> Any:
    """The SMS_BACKEND class when it is (a subclass of) ``provider``'s backend,
    or, when SMS_BACKEND is the routing backend, the ``PROVIDERS`` backend that is."""
    try:
        backend = import_string(app_settings.SMS_BACKEND)
    except ImportError:
        return None  # smsverify.E001 reports it
    if getattr(backend, "provider_name", None) == provider:
        return backend
    if getattr(backend, "provider_name", None) == "routing":
        # A provider reached only through a route needs its settings checked too.
        for entry in app_settings.PROVIDERS.values():
            try:
                routed = import_string(str(entry.get("BACKEND")))
            except ImportError:
                continue  # smsverify.E603 reports it
            if getattr(routed, "provider_name", None) == provider:
                return routed
    return None


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
