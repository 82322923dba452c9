"""System checks of the REST API settings, ``SMSVERIFY["DRF"]``.

Ids: ``smsverify.E501`` (the block is not a dict, or has an unknown key) and
``smsverify.E502`` (``TOKEN_HOOK`` cannot be imported or is not callable).
Registered by :mod:`django_smsverify.checks`, so they run whether or not the
site includes the API's URLs; they import nothing from REST framework.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.utils.module_loading import import_string

from django_smsverify.checks import unknown_key_errors
from django_smsverify.conf import DEFAULTS, app_settings


@register(Tags.compatibility)
def check_drf(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``SMSVERIFY["DRF"]``: its shape (E501) and its token hook (E502)."""
    raw = getattr(settings, "SMSVERIFY", {})
    value = raw.get("DRF", DEFAULTS["DRF"]) if isinstance(raw, dict) else DEFAULTS["DRF"]
    if not isinstance(value, dict):
        return [Error("SMSVERIFY['DRF'] must be a dict.", id="smsverify.E501")]
    errors = unknown_key_errors(value, DEFAULTS["DRF"], "SMSVERIFY['DRF']", "smsverify.E501")
    path = app_settings.DRF.TOKEN_HOOK
    problem = None
    try:
        hook = import_string(path) if isinstance(path, str) else None
    except ImportError as exc:
        problem = f"cannot be imported: {exc}"
    else:
        if not callable(hook):
            problem = "is not the dotted path of a callable"
    if problem:
        errors.append(
            Error(
                f"SMSVERIFY['DRF']['TOKEN_HOOK'] {path!r} {problem}.",
                hint="Use 'django_smsverify.contrib.rest_framework.tokens.session_login', "
                "'django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens' or the "
                "path of your own hook(request, user) -> dict.",
                id="smsverify.E502",
            )
        )
    return errors
