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

Revocation: every token :func:`simplejwt_tokens` issues carries the claim
:data:`TOKEN_CLAIM`, derived from the user's session auth hash (itself
derived from the password hash). A password reset and a phone change set
the password hash anew (the adapter's ``end_other_sessions``), so the claim
of every token issued before no longer matches.
:class:`~django_smsverify.contrib.rest_framework.jwt.JWTAuthentication` and
:class:`~django_smsverify.contrib.rest_framework.jwt.TokenRefreshView` check
it, and refuse such access and refresh tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.module_loading import import_string

from django_smsverify.adapter import get_adapter
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import SmsConfigurationError

#: The signature of a token hook.
TokenHook = Callable[[Any, Any], Mapping[str, Any]]

#: The JWT claim that ties a token to the user's current session auth hash.
TOKEN_CLAIM = "smsverify_auth"  # noqa: S105 - a claim's name, not a secret

_CLAIM_SALT = "django_smsverify.contrib.rest_framework.tokens.claim"


def token_claim(user: Any, secret: str | None = None) -> str:
    """The value of :data:`TOKEN_CLAIM` for ``user`` now: 32 hex digits of an
    HMAC (keyed by ``SECRET_KEY``, or ``secret``) of the user's session auth
    hash. It changes whenever the password hash does."""
    if secret is None:
        auth_hash = user.get_session_auth_hash()
    else:
        auth_hash = user._get_session_auth_hash(secret=secret)
    return salted_hmac(_CLAIM_SALT, auth_hash, secret=secret, algorithm="sha256").hexdigest()[:32]


def token_claim_matches(user: Any, value: Any) -> bool:
    """Whether ``value`` (a token's :data:`TOKEN_CLAIM`) is ``user``'s current
    one, under ``SECRET_KEY`` or one of ``SECRET_KEY_FALLBACKS`` (as Django
    keeps sessions through a key rotation)."""
    if not isinstance(value, str):
        return False
    if constant_time_compare(value, token_claim(user)):
        return True
    return any(
        constant_time_compare(value, token_claim(user, fallback))
        for fallback in getattr(settings, "SECRET_KEY_FALLBACKS", [])
    )


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
    simplejwt's own ``TokenObtainPairView``. Both carry :data:`TOKEN_CLAIM`,
    so a password reset or a phone change ends them wherever the site
    authenticates with the app's ``jwt.JWTAuthentication`` and refreshes with
    its ``jwt.TokenRefreshView`` (``smsverify.W503`` and ``smsverify.W504``
    warn otherwise). Honours simplejwt's ``UPDATE_LAST_LOGIN`` setting. No
    session is started, so no CSRF token is needed. Needs
    ``pip install djangorestframework-simplejwt``.
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
    # Copied into the access token below; checked on every use (see above).
    refresh[TOKEN_CLAIM] = token_claim(user)
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
