"""API views: one per web flow, each running the flow's own form.

Answers use REST framework's usual shapes: field errors
``{"field": ["message"]}`` (and ``non_field_errors``) with 400, ``{"detail":
...}`` otherwise; 429 with ``Retry-After`` (and ``retry_after`` in the body)
when a limit refuses; 503 with ``Retry-After`` when the store or the SMS
provider is down. Nothing a client can send makes a 500.

Authentication and renderers/parsers are the site's REST framework defaults,
so a phone change works for session, token or JWT users alike. Permissions
are set here (public endpoints stay public under a site-wide
``IsAuthenticated`` default); the site's throttles still apply.
"""

from __future__ import annotations

from django_smsverify.contrib.rest_framework import require_drf

require_drf()

import logging  # noqa: E402
from typing import Any  # noqa: E402

from django.middleware.csrf import get_token  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils.cache import add_never_cache_headers  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402
from rest_framework import status  # noqa: E402
from rest_framework.authentication import SessionAuthentication  # noqa: E402
from rest_framework.exceptions import APIException, NotFound, ParseError  # noqa: E402
from rest_framework.generics import GenericAPIView  # noqa: E402
from rest_framework.permissions import AllowAny, IsAuthenticated  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.settings import api_settings  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from django_smsverify import captcha  # noqa: E402
from django_smsverify.adapter import client_key  # noqa: E402
from django_smsverify.conf import app_settings  # noqa: E402
from django_smsverify.contrib.rest_framework import serializers as api  # noqa: E402
from django_smsverify.contrib.rest_framework.schema import SmsVerifySchema  # noqa: E402
from django_smsverify.contrib.rest_framework.tokens import (  # noqa: E402
    get_token_hook,
    requires_csrf,
)
from django_smsverify.exceptions import (  # noqa: E402
    InvalidPhoneNumber,
    RateLimited,
    ServiceUnavailable,
    SmsSendError,
)
from django_smsverify.forms import send_current_phone_code  # noqa: E402
from django_smsverify.views import has_invalid_text, lookup_phone_status  # noqa: E402

logger = logging.getLogger("django_smsverify.contrib.rest_framework")

#: Seconds a client is asked to wait after a 503 (as the web endpoints do).
UNAVAILABLE_RETRY_AFTER = 30


class TooManyRequests(APIException):
    """429 for a :class:`~django_smsverify.exceptions.RateLimited`; ``wait``
    becomes the ``Retry-After`` header in REST framework's exception handler."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, exc: RateLimited) -> None:
        super().__init__(detail=str(exc.message), code=exc.code)
        self.wait = exc.retry_after


class Unavailable(APIException):
    """503 for a store, broker or provider outage."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE

    def __init__(self, exc: ServiceUnavailable | SmsSendError) -> None:
        super().__init__(detail=str(exc.message), code=exc.code)
        self.wait = UNAVAILABLE_RETRY_AFTER


class SmsVerifyAPIView(GenericAPIView):
    """Base of the API views: error mapping, no caching, its own schema."""

    permission_classes = [AllowAny]
    # The site's list defaults mean nothing here and must not leak into the schema.
    filter_backends: list[Any] = []
    pagination_class = None
    schema = SmsVerifySchema()

    operation_id = ""
    response_serializer_class: Any = api.DetailSerializer
    success_status = 200
    # 403: REST framework's SessionAuthentication refuses a logged-in session
    # user's unsafe request without the CSRF token.
    error_statuses: tuple[int, ...] = (400, 403, 429, 503)

    def get_authenticators(self) -> list[Any]:
        classes = self.authentication_classes
        if classes is APIView.authentication_classes:
            # Not customised: read DEFAULT_AUTHENTICATION_CLASSES now, not when
            # REST framework was imported, so override_settings works (as for
            # every other setting of this app).
            classes = api_settings.DEFAULT_AUTHENTICATION_CLASSES
        return [auth() for auth in classes]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RateLimited):
            exc = TooManyRequests(exc)
        elif isinstance(exc, (ServiceUnavailable, SmsSendError)):
            if isinstance(exc, SmsSendError):
                logger.warning("code not sent: %s", exc)
            exc = Unavailable(exc)
        response = super().handle_exception(exc)
        if isinstance(exc, TooManyRequests) and isinstance(response.data, dict):
            response.data["retry_after"] = exc.wait
        return response

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        # Challenges, codes and tokens must never come from a cache.
        add_never_cache_headers(response)
        return response

    def validated_form(self, request: Request) -> Any:
        """Run the view's serializer (and so its form) on the request body."""
        try:
            data = request.data
        except (RecursionError, ValueError) as exc:
            # REST framework turns only some parser failures into a 400: JSON
            # nested too deep (RecursionError) and a body in a charset that
            # cannot decode it (UnicodeError from the form and multipart
            # parsers) would otherwise be a 500.
            raise ParseError() from exc
        if has_invalid_text(data):
            # A lone surrogate ("\\ud800" in JSON, or a utf-7 form body) can
            # be neither hashed nor rendered back: refuse it before any field.
            raise ParseError()
        serializer = self.get_serializer(data=data)
        serializer.is_valid(raise_exception=True)
        self._serializer = serializer
        return serializer.form


class TokenIssuingView(SmsVerifyAPIView):
    """A flow that ends with the user logged in: answers the token hook's dict."""

    response_serializer_class = api.AuthResultSerializer

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.token_hook = get_token_hook()
        if requires_csrf(self.token_hook):
            # The hook starts a session: refuse cross-site posts (login CSRF)
            # before any code is checked, as Django's LoginView does.
            SessionAuthentication().enforce_csrf(request)

    def issue(self, request: Request, user: Any, status_code: int = 200) -> Response:
        body: dict[str, Any] = {"user_id": user.pk}
        body.update(self.token_hook(request, user))
        return Response(body, status=status_code)


class CaptchaView(SmsVerifyAPIView):
    """``GET``: a new captcha challenge.

    200 ``{"key", "image_url", "image_url_2x", "expires_in"}`` (with another
    ``HUMAN_CHECK``, what its ``render()`` gives); 404 when the captcha is
    turned off; 429 with ``Retry-After`` past the client's
    ``CREATE_PER_MINUTE``/``CREATE_PER_HOUR``, the same limits as the page
    endpoint's; 503. Also sets the ``csrftoken`` cookie, which the
    session-login endpoints need.
    """

    operation_id = "newCaptcha"
    response_serializer_class = api.CaptchaChallengeSerializer
    error_statuses = (404, 429, 503)

    def get(self, request: Request) -> Response:
        check = captcha.get_human_check()
        if not check.is_enabled():
            raise NotFound()
        get_token(request._request)  # so a single-page app has the CSRF cookie
        if not isinstance(check, captcha.ImageCaptcha):
            return Response(check.render(request._request))
        # Counted like the page endpoint's challenges: free challenges with no
        # limit would let anyone harvest images and fill the cache.
        challenge = captcha.new_challenge(client=client_key(request._request))
        image = reverse("smsverify_api:captcha_image", kwargs={"key": challenge.key})
        return Response(
            {
                "key": challenge.key,
                "image_url": request.build_absolute_uri(image),
                "image_url_2x": request.build_absolute_uri(f"{image}?scale=2"),
                "expires_in": challenge.expires_in,
            }
        )


class SendCodeView(SmsVerifyAPIView):
    """``POST``: send a code for ``purpose`` to ``phone`` (after the captcha).

    200 ``{"phone", "resend_after", "expires_in"}``. With
    ``PREVENT_ENUMERATION`` on, a registered number (for ``register`` and
    ``change_phone``) or an unknown one (for ``login`` and
    ``reset_password``) gets the same answer as any other number.
    """

    operation_id = "sendCode"
    serializer_class = api.SendCodeSerializer
    response_serializer_class = api.CodeSentSerializer

    def post(self, request: Request) -> Response:
        result = self.validated_form(request).send()
        return Response(result.answer())


class PhoneStatusView(SmsVerifyAPIView):
    """``GET ?phone=``: whether a number is registered.

    404 while ``PREVENT_ENUMERATION`` is on (the default); otherwise 200
    ``{"phone", "registered"}``, limited per client IP.
    """

    operation_id = "phoneStatus"
    response_serializer_class = api.PhoneStatusSerializer
    error_statuses = (400, 404, 429, 503)
    query_parameters = [("phone", "The number to look up.", True)]

    def get(self, request: Request) -> Response:
        if app_settings.PREVENT_ENUMERATION:
            raise NotFound()
        try:
            phone, registered = lookup_phone_status(request, request.query_params.get("phone", ""))
        except InvalidPhoneNumber as exc:
            return Response({"phone": [str(exc.message)]}, status=400)
        return Response({"phone": phone, "registered": registered})


class RegisterView(TokenIssuingView):
    """``POST``: create the account, then answer 201 ``{"user_id", "token", ...}``."""

    operation_id = "register"
    serializer_class = api.RegisterSerializer
    success_status = 201

    def post(self, request: Request) -> Response:
        form = self.validated_form(request)
        user = form.save()
        if user is None:  # the number was registered meanwhile (a race)
            self._serializer.raise_form_errors(form)
        return self.issue(request, user, status.HTTP_201_CREATED)


class SmsLoginView(TokenIssuingView):
    """``POST``: log in with a number and its code; 200 ``{"user_id", "token", ...}``.

    With ``SMSVERIFY["LOGIN_CREATES_USER"]`` a number that no account uses
    gets one on the spot, and the answer is the same.
    """

    operation_id = "login"
    serializer_class = api.SmsLoginSerializer

    def post(self, request: Request) -> Response:
        form = self.validated_form(request)
        user = form.get_user()
        if user is None:  # one-step login could not create the account
            self._serializer.raise_form_errors(form)
        return self.issue(request, user)


class PasswordLoginView(TokenIssuingView):
    """``POST``: log in with a number and a password; 200 ``{"user_id", "token", ...}``."""

    operation_id = "passwordLogin"
    serializer_class = api.PasswordLoginSerializer

    def post(self, request: Request) -> Response:
        return self.issue(request, self.validated_form(request).get_user())


class PasswordResetView(SmsVerifyAPIView):
    """``POST``: set a new password with a code; 200 ``{"detail"}``. Does not log in."""

    operation_id = "passwordReset"
    serializer_class = api.PasswordResetSerializer

    def post(self, request: Request) -> Response:
        self.validated_form(request).save()
        return Response({"detail": _("Your password has been reset. Log in with the new one.")})


class PhoneChangeView(SmsVerifyAPIView):
    """``POST`` (authenticated): move the user to a new, verified number; 200 ``{"phone"}``.

    Besides the new number and its code, the user proves the account is
    theirs as ``PHONE_CHANGE_PROOF`` says: ``current_password`` (wrong ones
    count against ``PASSWORD_LOGIN_LIMITS``: 429 past them) and/or
    ``current_code`` (see :class:`PhoneChangeCodeView`). The change ends every
    other session and token of the user. A session request stays logged in;
    a request authenticated otherwise (a JWT) gets new credentials from the
    token hook in the answer, unless the hook starts a session.
    """

    operation_id = "phoneChange"
    permission_classes = [IsAuthenticated]
    serializer_class = api.PhoneChangeSerializer
    response_serializer_class = api.PhoneChangedSerializer
    error_statuses = (400, 401, 403, 429, 503)

    def post(self, request: Request) -> Response:
        form = self.validated_form(request)
        if not form.save():  # the number was taken meanwhile (a race)
            self._serializer.raise_form_errors(form)
        body: dict[str, Any] = {"phone": form.cleaned_data["phone"]}
        body.update(self.renewed_credentials(request, form.user))
        return Response(body)

    def renewed_credentials(self, request: Request, user: Any) -> dict[str, Any]:
        """New credentials for a request whose own token the change just ended."""
        if isinstance(request.successful_authenticator, SessionAuthentication):
            return {}  # the form kept the session logged in
        hook = get_token_hook()
        if requires_csrf(hook):
            return {}  # a session hook: do not start a session here
        return dict(hook(request, user))


class PhoneChangeCodeView(SmsVerifyAPIView):
    """``POST`` (authenticated, no body): send a ``change_phone`` code to the
    user's current number, the ``current_code`` proof of ``change/``.

    200 like ``send-code/``. No captcha: the number is the account's own; the
    cooldown and quotas apply. 400 when the account has no number.
    """

    operation_id = "phoneChangeCode"
    permission_classes = [IsAuthenticated]
    serializer_class = api.EmptySerializer
    takes_body = False
    response_serializer_class = api.CodeSentSerializer
    error_statuses = (400, 401, 403, 429, 503)

    def post(self, request: Request) -> Response:
        try:
            result = send_current_phone_code(request)
        except InvalidPhoneNumber as exc:
            return Response({api_settings.NON_FIELD_ERRORS_KEY: [str(exc.message)]}, status=400)
        return Response(result.answer())
