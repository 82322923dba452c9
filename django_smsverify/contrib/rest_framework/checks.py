"""System checks of the REST API settings, ``SMSVERIFY["DRF"]``.

Ids: ``smsverify.E501`` (the block is not a dict, or has an unknown key),
``smsverify.E502`` (``TOKEN_HOOK`` cannot be imported or is not callable),
``smsverify.W503`` (the app issues simplejwt tokens but the site
authenticates with simplejwt's own ``JWTAuthentication``, which does not
check that a password reset or phone change ended them) and
``smsverify.W504`` (likewise for a URL served by simplejwt's own
``TokenRefreshView``).
Registered by :mod:`django_smsverify.checks`, so they run whether or not the
site includes the API's URLs; they import nothing from REST framework.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import URLPattern, URLResolver, get_resolver
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


#: The token hook whose tokens carry the revocation claim.
SIMPLEJWT_HOOK = "django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens"
#: simplejwt's authentication classes that do not check the claim.
PLAIN_JWT_AUTH = (
    "rest_framework_simplejwt.authentication.JWTAuthentication",
    "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication",
    "rest_framework_simplejwt.authentication.JWTTokenUserAuthentication",
)
APP_JWT_AUTH = "django_smsverify.contrib.rest_framework.jwt.JWTAuthentication"
APP_REFRESH_VIEW = "django_smsverify.contrib.rest_framework.jwt.TokenRefreshView"


def _issues_app_jwts() -> bool:
    return app_settings.DRF.TOKEN_HOOK == SIMPLEJWT_HOOK


def _simplejwt_checks_revocation() -> bool:
    # simplejwt's own CHECK_REVOKE_TOKEN ties access tokens to the password
    # hash, which a reset and a phone change set anew.
    value = getattr(settings, "SIMPLE_JWT", None)
    return isinstance(value, dict) and bool(value.get("CHECK_REVOKE_TOKEN"))


def _dotted(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}" if isinstance(cls, type) else str(cls)


@register(Tags.security)
def check_jwt_revocation(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """W503: simplejwt tokens from the app, checked by a class that ignores revocation."""
    if not _issues_app_jwts() or _simplejwt_checks_revocation():
        return []
    rest = getattr(settings, "REST_FRAMEWORK", None)
    classes = rest.get("DEFAULT_AUTHENTICATION_CLASSES", []) if isinstance(rest, dict) else []
    plain = [_dotted(c) for c in classes if _dotted(c) in PLAIN_JWT_AUTH]
    if not plain:
        return []
    return [
        Warning(
            f"REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'] lists {plain[0]!r}: JWTs that "
            "the app issued keep working after a password reset or a phone change.",
            hint=f"Use {APP_JWT_AUTH!r} instead (a subclass that also checks revocation).",
            id="smsverify.W503",
        )
    ]


@register(Tags.security, Tags.urls)
def check_jwt_refresh_view(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """W504: a URL refreshes the app's JWTs with simplejwt's own view."""
    if not _issues_app_jwts():
        return []
    try:
        from rest_framework_simplejwt.views import TokenRefreshView
    except ImportError:
        return []
    from django_smsverify.contrib.rest_framework.jwt import TokenRefreshSerializer

    found = []
    for cls in _view_classes(get_resolver().url_patterns):
        if issubclass(cls, TokenRefreshView) and not issubclass(
            cls().get_serializer_class(), TokenRefreshSerializer
        ):
            found.append(_dotted(cls))
    return [
        Warning(
            f"A URL serves {path!r}: refresh tokens that the app issued keep working after "
            "a password reset or a phone change.",
            hint=f"Serve {APP_REFRESH_VIEW!r} instead.",
            id="smsverify.W504",
        )
        for path in sorted(set(found))
    ]


def _view_classes(patterns: list[Any]) -> list[type]:
    """The class-based views behind ``patterns``, through every include."""
    found: list[type] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            cls = getattr(pattern.callback, "cls", None) or getattr(
                pattern.callback, "view_class", None
            )
            if isinstance(cls, type):
                found.append(cls)
    return found
