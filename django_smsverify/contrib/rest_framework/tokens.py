"""Token hooks: what the API answers after a user registers or logs in.

A token hook is any callable ``hook(request, user) -> dict``. The API merges
its dict into the answer, after ``user_id``; the dict must hold ``"token"``
(``None`` when the hook hands out no token). Choose one with
``SMSVERIFY["DRF"]["TOKEN_HOOK"]`` (a dotted path). A hook that starts a
Django session sets ``requires_csrf = True`` on itself: the API then checks
CSRF on the endpoints that call it, as Django's own login view does, so
another site cannot log a visitor in to the attacker's account.

This module imports nothing from REST framework at import time, so the system
check can import the configured hook on any site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.utils.module_loading import import_string

from django_smsverify.adapter import get_adapter
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import SmsConfigurationError

#: The signature of a token hook.
TokenHook = Callable[[Any, Any], Mapping[str, Any]]


def session_login(request: Any, user: Any) -> dict[str, Any]:
    """The default hook: log ``user`` in with a Django session (through the
    adapter, like the web pages) and answer ``{"token": None}``.

    The session cookie is the credential; later API calls authenticate with
    REST framework's ``SessionAuthentication`` and send the ``X-CSRFToken``
    header on unsafe methods.
    """
    get_adapter().login(request, user)
    return {"token": None}


# Logging in through a session must be protected from login CSRF.
session_login.requires_csrf = True  # type: ignore[attr-defined]


def simplejwt_tokens(request: Any, user: Any) -> dict[str, Any]:
    """A hook for djangorestframework-simplejwt: a fresh refresh/access pair.

    Answers ``{"token": access, "access": access, "refresh": refresh}``:
    ``token`` keeps the API's contract, ``access``/``refresh`` match
    simplejwt's own ``TokenObtainPairView``. Honours simplejwt's
    ``UPDATE_LAST_LOGIN`` setting. No session is started, so no CSRF token is
    needed. Needs ``pip install djangorestframework-simplejwt``.
    """
    try:
        from rest_framework_simplejwt.settings import api_settings as jwt_settings
        from rest_framework_simplejwt.tokens import RefreshToken
    except ImportError as exc:
        raise SmsConfigurationError(
            "SMSVERIFY['DRF']['TOKEN_HOOK'] is simplejwt_tokens but "
            "djangorestframework-simplejwt is not installed. Install it with: "
            "pip install djangorestframework-simplejwt"
        ) from exc
    refresh = RefreshToken.for_user(user)
    if jwt_settings.UPDATE_LAST_LOGIN:
        from django.contrib.auth.models import update_last_login

        update_last_login(None, user)
    access = str(refresh.access_token)
    return {"token": access, "access": access, "refresh": str(refresh)}


def get_token_hook() -> TokenHook:
    """The hook named by ``SMSVERIFY["DRF"]["TOKEN_HOOK"]``."""
    hook: TokenHook = import_string(app_settings.DRF.TOKEN_HOOK)
    return hook


def requires_csrf(hook: TokenHook) -> bool:
    """Whether ``hook`` starts a session, so the endpoints calling it check CSRF."""
    return bool(getattr(hook, "requires_csrf", False))
