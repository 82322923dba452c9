"""Every error the app raises, rooted at :class:`SmsVerifyError`.

The user-facing text of each error lives here, once, as ``default_message``
(translated with gettext), so views, forms and the JSON API all say the same
thing. Configuration errors also subclass Django's ``ImproperlyConfigured``
and are never hidden by ``fail_silently``.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _


def wait_text(seconds: int) -> str:
    """``seconds`` as people say a wait: in seconds up to 90, then in minutes
    up to 90, then in hours, rounded up ("3595 seconds" reads "60 minutes")."""
    if seconds <= 90:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    if minutes <= 90:
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    hours = math.ceil(seconds / 3600)
    return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}


def _limited_text(seconds: int, scope: str) -> str:
    wait = wait_text(seconds)
    if scope in ("cooldown", "provider"):
        # A resend asked for too soon: say when it is possible, not that the
        # user did something wrong.
        return gettext("You can ask for another code in %(wait)s.") % {"wait": wait}
    return gettext("Too many requests. Please try again in %(wait)s.") % {"wait": wait}


def _locked_text(seconds: int) -> str:
    return gettext("Too many incorrect codes. You can ask for a new code in %(wait)s.") % {
        "wait": wait_text(seconds)
    }


def _mismatch_text(attempts_left: int) -> str:
    return ngettext(
        "The verification code is incorrect. %(count)d attempt left.",
        "The verification code is incorrect. %(count)d attempts left.",
        attempts_left,
    ) % {"count": attempts_left}


# Built when shown, in the language active then.
_limited_message = lazy(_limited_text, str)
_locked_message = lazy(_locked_text, str)
_mismatch_message = lazy(_mismatch_text, str)


class SmsVerifyError(Exception):
    """Root of every error raised by django-smsverify.

    ``message`` is safe to show to the user; ``code`` is a stable machine-readable
    identifier (used as the error code in forms and JSON answers).
    """

    default_message: Any = _("Something went wrong. Please try again.")
    code = "error"

    def __init__(self, message: Any = None, *, code: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __str__(self) -> str:
        return str(self.message)


class InvalidPhoneNumber(SmsVerifyError, ValueError):
    """The text is not a mobile number we can send to."""

    default_message = _("Enter a valid mobile phone number.")
    code = "invalid_phone"


class UnsupportedRegion(InvalidPhoneNumber):
    """A valid mobile number from a region outside ``ALLOWED_REGIONS``."""

    default_message = _("Numbers from this country or region are not supported.")
    code = "unsupported_region"


class InvalidPurpose(SmsVerifyError, ValueError):
    """A purpose other than ``register``, ``login``, ``reset_password``, ``change_phone``."""

    default_message = _("Unknown verification purpose.")
    code = "invalid_purpose"


class RateLimited(SmsVerifyError):
    """A send was refused by a cooldown or quota, or checks are locked out.

    ``retry_after`` is the whole number of seconds until the same request can
    succeed (never 0); ``scope`` names the limit that refused it
    (``cooldown``, ``phone_hour``, ``phone_day``, ``ip_hour``, ``attempts``, or
    ``provider`` when the SMS provider refused to send to the number so often).
    """

    code = "rate_limited"

    def __init__(self, retry_after: float, scope: str = "cooldown", message: Any = None) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        self.scope = scope
        if message is None:
            message = _limited_message(self.retry_after, scope)
        super().__init__(message)


class CodeError(SmsVerifyError):
    """Base of the errors :func:`~django_smsverify.verification.check_code` raises."""

    code = "invalid_code"


class CodeMismatch(CodeError):
    """The code is wrong. ``attempts_left`` wrong guesses remain before lock-out
    (the message says how many, when there is a limit)."""

    default_message = _("The verification code is incorrect.")
    code = "code_mismatch"

    def __init__(self, attempts_left: int, message: Any = None) -> None:
        self.attempts_left = attempts_left
        if message is None and attempts_left > 0:
            message = _mismatch_message(attempts_left)
        super().__init__(message)


class CodeExpired(CodeError):
    """No live code: it expired, was already used, or was never sent."""

    default_message = _("The verification code has expired or was already used. Request a new one.")
    code = "code_expired"


class TooManyAttempts(CodeError):
    """Too many wrong guesses; the code is dead.

    ``retry_after`` is the number of seconds until a new code may be sent.
    """

    code = "too_many_attempts"

    def __init__(self, retry_after: float, message: Any = None) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        if message is None:
            message = _locked_message(self.retry_after)
        super().__init__(message)


class CaptchaInvalid(SmsVerifyError):
    """The captcha answer was wrong, or its challenge expired or was already used.

    One message for all three on purpose: a wrong answer burns the challenge
    too, so the user's next step is the same (read the new image).
    """

    default_message = _(
        "The characters did not match the image. Please type the ones in the new image."
    )
    code = "captcha_invalid"


class CaptchaRequired(CaptchaInvalid):
    """No captcha answer was given."""

    default_message = _("Type the characters shown in the image.")
    code = "captcha_required"


class ServiceUnavailable(SmsVerifyError):
    """A dependency (the verification store, the task broker) is down. Nothing was sent."""

    default_message = _("The service is temporarily unavailable. Please try again shortly.")
    code = "service_unavailable"


class SmsSendError(SmsVerifyError):
    """A backend could not send a message.

    ``provider`` names the backend (``"ronglian"``, ``"tencent"``, ...),
    ``provider_code`` is the provider's own error code when it gave one,
    ``transient`` says whether retrying later may succeed, ``response`` keeps the
    provider's parsed reply (never credentials), and ``detail`` is a
    developer-facing description. ``message`` stays a generic, user-safe text.

    ``maybe_sent`` marks an outcome the app cannot know: the request reached
    the provider but no answer came back (a read timeout, a connection closed
    after the request went out, an unreadable reply), so the SMS may still be
    delivered. The send path then keeps the code valid instead of withdrawing
    a code that may arrive. ``rate_limited`` marks the provider's own refusal
    to send to this number so often (Ronglian ``160038``, Tencent
    ``LimitExceeded.*``): the app keeps the resend cooldown, so the user is
    told to wait rather than to try again at once.
    """

    default_message = _("The text message could not be sent. Please try again later.")
    code = "send_failed"

    def __init__(
        self,
        detail: str = "",
        *,
        provider: str = "",
        provider_code: str | None = None,
        transient: bool = False,
        response: Any = None,
        message: Any = None,
        maybe_sent: bool = False,
        rate_limited: bool = False,
    ) -> None:
        self.detail = detail
        self.provider = provider
        self.provider_code = provider_code
        self.transient = transient
        self.response = response
        self.maybe_sent = maybe_sent
        self.rate_limited = rate_limited
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.provider or "sms", self.provider_code or "-", self.detail]
        kind = "transient" if self.transient else "permanent"
        return f"{parts[0]} error {parts[1]} ({kind}): {parts[2]}"


class SmsConfigurationError(SmsVerifyError, ImproperlyConfigured):
    """The site's configuration is wrong (never hidden by ``fail_silently``)."""

    default_message = _("SMS verification is not configured correctly.")
    code = "improperly_configured"


class MissingDependency(SmsConfigurationError, ImportError):
    """An optional extra is not installed; the message names the ``pip install`` line."""

    def __init__(self, extra: str, feature: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs an optional dependency. Install it with: "
            f'pip install "django-smsverify[{extra}]"'
        )


#: User-facing texts of form-level errors that are not exceptions, by error code.
#: Forms and the JSON API read them from here (the adapter may override them).
FORM_MESSAGES: dict[str, Any] = {
    "phone_registered": _("This number is already registered. Log in instead."),
    "phone_unregistered": _("No account uses this number."),
    "phone_unchanged": _("This is already your number."),
    # The database refused the account for a reason other than the number
    # (a misconfigured user model, say): the real cause is logged.
    "save_failed": _(
        "Your account could not be saved, and nothing was changed. Your code still works: "
        "try again later."
    ),
    # The provider did not answer after the request went out: the SMS may
    # still arrive, and the code in it works.
    "delivery_uncertain": _(
        "We could not confirm that the text message was sent. The code may still arrive "
        "and will work; if it does not, ask for a new one when the countdown ends."
    ),
    "password_mismatch": _("The two passwords do not match."),
    "invalid_login": _("The number or the password is incorrect."),
    "inactive": _("This account is inactive."),
    "login_required": _("Log in first."),
    # Phone change: the proof beyond the session.
    "invalid_password": _("The password is incorrect."),
    "current_phone_missing": _("Your account has no phone number to send a code to."),
    "invalid_json": _("The request body is not valid JSON."),
    "invalid_text": _("This contains characters that are not valid text."),
    "not_found": _("Not found."),
    "invalid_choice": _("Select a valid choice. That choice is not one of the available choices."),
}
