"""djangorestframework-simplejwt classes that honour revocation.

The tokens :func:`~django_smsverify.contrib.rest_framework.tokens.simplejwt_tokens`
issues carry a claim (:data:`~django_smsverify.contrib.rest_framework.tokens.TOKEN_CLAIM`)
derived from the user's session auth hash. A password reset or a phone change
sets that hash anew, so the tokens issued before stop matching. simplejwt's
own classes do not know the claim; use these instead:

.. code-block:: python

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "django_smsverify.contrib.rest_framework.jwt.JWTAuthentication",
        ],
    }
    # urls.py
    from django_smsverify.contrib.rest_framework.jwt import TokenRefreshView
    urlpatterns += [path("api/token/refresh/", TokenRefreshView.as_view())]

Tokens without the claim (issued by the site's own views) are checked as
simplejwt checks them, no more. Needs ``pip install djangorestframework-simplejwt``.
"""

from __future__ import annotations

from django_smsverify.contrib.rest_framework import require_drf

require_drf()

from typing import Any  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

try:
    import rest_framework_simplejwt  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from django_smsverify.exceptions import SmsConfigurationError

    raise SmsConfigurationError(
        "django_smsverify.contrib.rest_framework.jwt needs djangorestframework-simplejwt. "
        "Install it with: pip install djangorestframework-simplejwt"
    ) from exc

from rest_framework_simplejwt import authentication as jwt_authentication  # noqa: E402
from rest_framework_simplejwt import serializers as jwt_serializers  # noqa: E402
from rest_framework_simplejwt.exceptions import AuthenticationFailed  # noqa: E402
from rest_framework_simplejwt.settings import api_settings as jwt_settings  # noqa: E402

from django_smsverify.contrib.rest_framework.tokens import (  # noqa: E402
    TOKEN_CLAIM,
    token_claim_matches,
)

#: The error code of a token that a password reset or a phone change ended.
REVOKED = "token_revoked"


def check_not_revoked(token: Any, user: Any) -> None:
    """Raise ``AuthenticationFailed`` (401, code ``token_revoked``) when
    ``token`` carries :data:`TOKEN_CLAIM` and it no longer matches ``user``."""
    if TOKEN_CLAIM in token.payload and not token_claim_matches(user, token[TOKEN_CLAIM]):
        raise AuthenticationFailed(_("This token is no longer valid. Log in again."), code=REVOKED)


class JWTAuthentication(jwt_authentication.JWTAuthentication):
    """simplejwt's ``JWTAuthentication`` that also refuses an access token
    issued before the user's last password reset or phone change."""

    def get_user(self, validated_token: Any) -> Any:
        user = super().get_user(validated_token)
        check_not_revoked(validated_token, user)
        return user


# Imported only now: importing REST framework's views reads
# DEFAULT_AUTHENTICATION_CLASSES, which may name JWTAuthentication above.
from rest_framework_simplejwt import views as jwt_views  # noqa: E402


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """simplejwt's refresh serializer that also refuses a refresh token issued
    before the user's last password reset or phone change (or whose user is
    gone)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = self.token_class(attrs["refresh"])
        if TOKEN_CLAIM in refresh.payload:
            user_id = refresh.payload.get(jwt_settings.USER_ID_CLAIM)
            user = (
                get_user_model()
                ._default_manager.filter(**{jwt_settings.USER_ID_FIELD: user_id})
                .first()
            )
            if user is None:
                raise AuthenticationFailed(
                    self.error_messages["no_active_account"], "no_active_account"
                )
            check_not_revoked(refresh, user)
        return super().validate(attrs)


class TokenRefreshView(jwt_views.TokenRefreshView):
    """simplejwt's ``TokenRefreshView`` with :class:`TokenRefreshSerializer`."""

    serializer_class = TokenRefreshSerializer
