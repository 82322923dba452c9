"""Forms of the web flows. Each can be replaced through ``SMSVERIFY["FORMS"]``.

Rules live in the engine, the captcha and the adapter; forms only put them
together. Every form that checks a code validates its other fields first, so a
typo in a password never burns a code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth import (
    SESSION_KEY,
    authenticate,
    get_user_model,
    password_validation,
    update_session_auth_hash,
)
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from django_smsverify import verification
from django_smsverify.adapter import client_key, get_adapter
from django_smsverify.conf import PURPOSES, app_settings
from django_smsverify.exceptions import (
    FORM_MESSAGES,
    CodeError,
    InvalidPhoneNumber,
    RateLimited,
    ServiceUnavailable,
)
from django_smsverify.fields import CaptchaField, PhoneNumberField, PhoneNumberInput, SmsCodeField
from django_smsverify.phone import normalize
from django_smsverify.store import get_store
from django_smsverify.store.base import HOUR_MS, Limit, limit_key, now_ms
from django_smsverify.verification import SendResult

logger = logging.getLogger("django_smsverify.forms")

#: The error code a form uses when the store is down; views answer 503 for it.
UNAVAILABLE = ServiceUnavailable.code


def _error(code: str) -> ValidationError:
    return ValidationError(FORM_MESSAGES[code], code=code)


class RequestForm(forms.Form):
    """A form that knows the request (for the adapter, the client IP, the user)."""

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)

    def is_unavailable(self) -> bool:
        """True when validation failed because a dependency was down (answer 503)."""
        return any(
            error.code == UNAVAILABLE
            for errors in self.errors.as_data().values()
            for error in errors
        )


class SendCodeForm(RequestForm):
    """Ask for a code: a number, a purpose and (unless turned off) a solved captcha.

    The captcha is checked, and used up, while the form validates, so no SMS is
    ever sent for an unsolved captcha. :meth:`send` then asks the engine for the
    code. With ``PREVENT_ENUMERATION`` on, a number that is registered (for
    ``register``, ``change_phone``) or is not (``login``, ``reset_password``)
    gets a notice SMS instead of a code, and the answer is the same as for any
    other number; with it off, the form says so in a field error.
    """

    phone = PhoneNumberField()
    purpose = forms.ChoiceField(choices=[(p, p) for p in PURPOSES])
    captcha = CaptchaField()

    # Pages render this form inside the same <form> as the main one; HTML
    # "required" on the captcha would block the main submit in the browser.
    use_required_attribute = False

    def __init__(self, *args: Any, purpose: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "captcha" in self.fields:
            # The human check is pluggable (SMSVERIFY["HUMAN_CHECK"]): its own
            # field renders it for this request and verifies what comes back.
            from django_smsverify.captcha import get_human_check

            self.fields["captcha"] = get_human_check().form_field(request=self.request)
        self.fixed_purpose = purpose
        if purpose is not None:
            # The page decides the purpose; a posted value is ignored.
            self.fields["purpose"].required = False
            self.fields["purpose"].widget = forms.HiddenInput()
            self.fields["purpose"].initial = purpose
        if purpose == "change_phone":
            self.fields["phone"].label = _("New mobile number")

    def clean_purpose(self) -> str:
        return self.fixed_purpose or self.cleaned_data.get("purpose", "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone, purpose = cleaned.get("phone"), cleaned.get("purpose")
        if not phone or not purpose:
            return cleaned
        user = getattr(self.request, "user", None)
        if purpose == "change_phone":
            if user is None or not user.is_authenticated:
                raise _error("login_required")
            if get_adapter().get_phone(user) == phone:
                self.add_error("phone", _error("phone_unchanged"))
                return cleaned
        self.notice_reason = self._enumeration_case(phone, purpose)
        if self.notice_reason and not app_settings.PREVENT_ENUMERATION:
            code = (
                "phone_registered" if self.notice_reason == "registered" else ("phone_unregistered")
            )
            self.add_error("phone", _error(code))
        return cleaned

    def _enumeration_case(self, phone: str, purpose: str) -> str | None:
        if purpose == "login" and app_settings.LOGIN_CREATES_USER:
            return None  # every number gets a code: an unknown one is signed up at login
        registered = get_adapter().is_registered(phone)
        if purpose in ("register", "change_phone") and registered:
            return "registered"
        if purpose in ("login", "reset_password") and not registered:
            return "unregistered"
        return None

    def send(self) -> SendResult:
        """Send the code (or the notice). Call after ``is_valid()``.

        Raises :class:`~django_smsverify.exceptions.RateLimited`,
        :class:`~django_smsverify.exceptions.ServiceUnavailable` or
        :class:`~django_smsverify.exceptions.SmsSendError`.
        """
        adapter = get_adapter()
        request = self.request
        phone, purpose = self.cleaned_data["phone"], self.cleaned_data["purpose"]
        reason = getattr(self, "notice_reason", None)
        ip = None
        if request is not None and app_settings.SEND_LIMITS["IP_PER_HOUR"]:
            ip = client_key(request)
        if reason:

            def factory(p: str, code: str, pu: str, ttl: int) -> Any:
                return adapter.notice_message(request, p, pu, reason, ttl)

        else:

            def factory(p: str, code: str, pu: str, ttl: int) -> Any:
                return adapter.code_message(request, p, code, pu, ttl)

        return verification.send_code(
            phone,
            purpose,
            ip=ip,
            message_factory=factory,
            notice=bool(reason),
            request=request,
        )


class PhoneCodeForm(RequestForm):
    """A number and the code sent to it for ``purpose``.

    :meth:`check_code` runs the engine's check; subclasses call it last in
    ``clean()``, after every other field, so a typo elsewhere never burns a code.
    :meth:`save_account` runs the database write the code proved, and gives
    the code back when the database refuses it for a reason that is not the
    user's.
    """

    purpose = ""
    code_field = "code"
    phone = PhoneNumberField()
    code = SmsCodeField()

    #: The code that passed, once :meth:`check_code` succeeded.
    verified_code: verification.VerifiedCode | None = None
    #: Seconds until a new code may be sent, once :meth:`check_code` found
    #: the number locked out (too many wrong codes); pages count down from it.
    locked_for: int | None = None

    def check_code(self, phone: str) -> str | None:
        form: forms.Form = self
        try:
            self.verified_code = verification.verify_code(
                phone,
                form.cleaned_data.get(self.code_field, ""),
                self.purpose,
                request=getattr(self, "request", None),
            )
        except CodeError as exc:
            form.add_error(self.code_field, ValidationError(exc.message, code=exc.code))
            self.locked_for = getattr(exc, "retry_after", None)
        except ServiceUnavailable as exc:
            form.add_error(None, ValidationError(exc.message, code=exc.code))
        else:
            return self.verified_code.phone
        return None

    def save_account(self, write: Callable[[], Any], *, taken_ok: bool = False) -> Any:
        """Run ``write()`` in a transaction and return what it returns, or None.

        Only the number's own uniqueness means "already registered": when the
        database refuses the write and the number now belongs to someone (two
        requests raced for it), the form gets that field error, or, with
        ``taken_ok``, None is returned without an error so the caller can
        use the winner's account. Any other refusal is logged with its cause
        and answered with ``save_failed``, and the code is given back: the
        change it proved did not happen.
        """
        phone = self.cleaned_data["phone"]
        try:
            with transaction.atomic():
                return write()
        except IntegrityError:
            adapter = get_adapter()
            if adapter.is_registered(phone):
                logger.info("%s lost a race for one number", self.purpose)
                if not taken_ok:
                    self.add_error("phone", _error("phone_registered"))
                return None
            logger.error("%s could not be saved", self.purpose, exc_info=True)
            self.add_error(None, _error("save_failed"))
            self._give_code_back()
            return None

    def _give_code_back(self) -> None:
        if self.verified_code is None:
            return
        try:
            verification.restore_code(self.verified_code)
        except ServiceUnavailable:
            logger.warning("could not give back a code after a failed %s", self.purpose)


class SetPasswordMixin:
    """Two password fields run through ``AUTH_PASSWORD_VALIDATORS``."""

    def clean_passwords(self, user: Any) -> None:
        form: forms.Form = self  # type: ignore[assignment]
        p1 = form.cleaned_data.get("password1")
        p2 = form.cleaned_data.get("password2")
        if not p1 or not p2:
            return
        if p1 != p2:
            form.add_error("password2", _error("password_mismatch"))
            return
        try:
            password_validation.validate_password(p1, user)
        except ValidationError as exc:
            form.add_error("password1", exc)


def is_valid_text(text: str) -> bool:
    """Whether ``text`` is valid Unicode: strict UTF-8 can encode it. A lone
    surrogate (a JSON ``"\\ud800"``, or what a ``charset=utf-7`` body decodes
    to) cannot, and neither a page that echoes it nor a password hasher can
    take it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encodable(value: str) -> None:
    """Validator: refuse text that is not valid Unicode (see :func:`is_valid_text`)."""
    if not is_valid_text(value):
        raise _error("invalid_text")


def _password_fields() -> tuple[forms.CharField, forms.CharField]:
    return (
        forms.CharField(
            label=_("Password"),
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            help_text=password_validation.password_validators_help_text_html,
            validators=[encodable],
        ),
        forms.CharField(
            label=_("Password (again)"),
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            validators=[encodable],
        ),
    )


class RegistrationForm(SetPasswordMixin, PhoneCodeForm):
    """Sign up with a number, the code sent to it, and a password typed twice."""

    purpose = "register"
    password1, password2 = _password_fields()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone")
        if phone:
            # So that UserAttributeSimilarityValidator refuses the number as a password.
            self.clean_passwords(_stand_in_user(phone))
        if phone and not self.errors:
            self.check_code(phone)
        return cleaned

    def save(self) -> Any:
        """Create the user and its number in one transaction; return the user.

        If the number was registered in the meantime (two sign-ups racing),
        the database's unique constraint refuses the second one: the form gets
        a field error and None is returned. If the database refuses the user
        for another reason, the form gets ``save_failed``, the cause is
        logged, the code works again, and None is returned.
        """
        adapter = get_adapter()
        return self.save_account(
            lambda: adapter.register(
                self.request, self.cleaned_data["phone"], self.cleaned_data["password1"]
            )
        )


class SmsLoginForm(PhoneCodeForm):
    """Log in with a number and the code sent to it (no password).

    With ``SMSVERIFY["LOGIN_CREATES_USER"]`` an unknown number is signed up
    by :meth:`get_user`, which then returns the new user.
    """

    purpose = "login"
    user: Any = None
    #: Whether :meth:`get_user` created the account (one-step login).
    created = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone")
        if phone and not self.errors and self.check_code(phone):
            adapter = get_adapter()
            user = adapter.get_user_by_phone(phone)
            if user is None:
                if not app_settings.LOGIN_CREATES_USER:
                    # Only reachable when the number was deleted after the code was sent.
                    self.add_error("phone", _error("phone_unregistered"))
            elif not adapter.can_log_in(user):
                self.add_error(None, _error("inactive"))
            else:
                self.user = user
        return cleaned

    def get_user(self) -> Any:
        """The user to log in; call after ``is_valid()``.

        With ``LOGIN_CREATES_USER`` and a number no account uses, the account
        is created here (in a transaction, through the adapter's ``register``
        with no password). When a concurrent request created it first, that
        account is returned. None (with a form error) if the account could
        not be saved.
        """
        if self.user is not None:
            return self.user
        phone = self.cleaned_data["phone"]
        adapter = get_adapter()
        created = self.save_account(
            lambda: adapter.register(self.request, phone, None), taken_ok=True
        )
        user = created or adapter.get_user_by_phone(phone)
        if user is None:
            return None
        if not adapter.can_log_in(user):
            self.add_error(None, _error("inactive"))
            return None
        self.created = created is not None
        self.user = user
        return user


class PasswordLoginForm(RequestForm):
    """Log in with a number and a password (through ``PhoneBackend``)."""

    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=32,
        widget=PhoneNumberInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        validators=[encodable],
    )

    def clean(self) -> dict[str, Any]:
        """Check the password, within ``PASSWORD_LOGIN_LIMITS``.

        Raises :class:`~django_smsverify.exceptions.RateLimited` (not a
        validation error: the views answer 429 with ``Retry-After``) once a
        limit is reached; a store outage is a form error that the views answer
        with 503.
        """
        cleaned = super().clean()
        phone, password = cleaned.get("phone"), cleaned.get("password")
        if phone and password:
            try:
                taken = self._take_attempt(phone)
            except ServiceUnavailable as exc:
                raise ValidationError(exc.message, code=exc.code) from exc
            try:
                normalize(phone)
            except InvalidPhoneNumber as exc:
                # Counted against the client all the same (above); a number
                # that cannot exist says so at its field, which tells nothing
                # about any account.
                self.add_error("phone", ValidationError(exc.message, code=exc.code))
                return cleaned
            user = authenticate(self.request, phone=phone, password=password)
            if user is None:
                raise _error("invalid_login")
            self._give_back(taken)
            self.user = user
        return cleaned

    def _limits(self, phone: str) -> list[Limit]:
        try:
            e164 = normalize(phone)
        except InvalidPhoneNumber:
            e164 = None  # no account can match; the IP limit still counts it
        account = limit_key("password_phone", e164) if e164 else None
        return _password_limits(self.request, account)

    def _take_attempt(self, phone: str) -> list[str]:
        # Counted before the password is checked, in one atomic step for both
        # counters, so that concurrent guesses cannot get past a limit; a login
        # that succeeds gives it back.
        limits = self._limits(phone)
        get_store().hit_many(limits, HOUR_MS, now_ms())
        return [lim.key for lim in limits]

    def _give_back(self, keys: list[str]) -> None:
        _give_back_attempt(keys)

    def get_user(self) -> Any:
        return self.user


class PasswordResetForm(SetPasswordMixin, PhoneCodeForm):
    """Set a new password after proving, by code, that one owns the number.

    Nothing about the account shows before the code is right: the password is
    first validated against a stand-in user carrying only the number (as on
    sign-up), so a registered and an unregistered number get the same
    answers. Once the code has passed, it is validated against the real user
    too; if that refuses it, the code is given back so the owner can choose
    another password with it.
    """

    purpose = "reset_password"
    password1, password2 = _password_fields()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone")
        if not phone:
            return cleaned
        self.clean_passwords(_stand_in_user(phone))
        if self.errors or not self.check_code(phone):
            return cleaned
        user = get_adapter().get_user_by_phone(phone)
        if user is None:
            self.add_error("phone", _error("phone_unregistered"))
            return cleaned
        self.clean_passwords(user)
        if self.errors:
            self._give_code_back()
        else:
            self.user = user
        return cleaned

    def save(self) -> Any:
        """Set the new password; return the user.

        Every session and every token the app issued for the user ends with
        the old password (the adapter's ``end_other_sessions``), including
        whoever may have had it.
        """
        with transaction.atomic():
            password = self.cleaned_data["password1"]
            get_adapter().end_other_sessions(self.request, self.user, password)
        return self.user


def _stand_in_user(phone: str) -> Any:
    """An unsaved user that carries only ``phone`` (as its username), for the
    password validators before anyone's account may be looked at."""
    probe = get_user_model()()
    probe.username = phone
    return probe


class PhoneChangeForm(PhoneCodeForm):
    """Move the logged-in user to a new number, proven by a code sent to it.

    The session alone is not enough: the user also proves the account is
    theirs, as ``SMSVERIFY["PHONE_CHANGE_PROOF"]`` says (see
    :func:`phone_change_proof`): the current password (``current_password``,
    counted against ``PASSWORD_LOGIN_LIMITS`` like a password login, so it is
    no password-guessing oracle) and/or a code sent to the current number
    (``current_code``, sent by :func:`send_current_phone_code`). Each field
    is there only when the account needs it. The proof is checked before any
    code, so a wrong password burns none.

    :meth:`save` changes the number, ends every other session and token of
    the user (the requesting session stays logged in), and the old number
    gets a notice SMS once the change has committed.
    """

    purpose = "change_phone"
    phone = PhoneNumberField(label=_("New mobile number"))

    #: The code to the current number that passed, once checked.
    verified_current_code: verification.VerifiedCode | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = getattr(self.request, "user", None)
        needs_password, needs_code = phone_change_proof(self.user)
        if needs_password:
            self.fields["current_password"] = forms.CharField(
                label=_("Current password"),
                strip=False,
                widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                validators=[encodable],
            )
        if needs_code:
            self.fields["current_code"] = SmsCodeField(label=_("Code sent to your current number"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.user
        if user is None or not user.is_authenticated:
            raise _error("login_required")
        phone = cleaned.get("phone")
        if not phone or self.errors:
            return cleaned
        current = get_adapter().get_phone(user)
        if phone == current:
            self.add_error("phone", _error("phone_unchanged"))
            return cleaned
        if "current_password" in self.fields and not self._check_password(user, current):
            return cleaned
        if "current_code" in self.fields and current:
            try:
                self.verified_current_code = verification.verify_code(
                    current, cleaned.get("current_code", ""), self.purpose, request=self.request
                )
            except CodeError as exc:
                self.add_error("current_code", ValidationError(exc.message, code=exc.code))
                return cleaned
            except ServiceUnavailable as exc:
                self.add_error(None, ValidationError(exc.message, code=exc.code))
                return cleaned
        if not self.check_code(phone):
            self._give_current_code_back()
        return cleaned

    def _check_password(self, user: Any, current_phone: str | None) -> bool:
        """Check ``current_password`` within ``PASSWORD_LOGIN_LIMITS``: an
        attempt is counted first (raising ``RateLimited`` past a limit) and
        given back when the password is right."""
        account = (
            limit_key("password_phone", current_phone)
            if current_phone
            else limit_key("password_user", str(user.pk))
        )
        limits = _password_limits(self.request, account)
        try:
            get_store().hit_many(limits, HOUR_MS, now_ms())
        except ServiceUnavailable as exc:
            self.add_error(None, ValidationError(exc.message, code=exc.code))
            return False
        if not user.check_password(self.cleaned_data.get("current_password", "")):
            self.add_error("current_password", _error("invalid_password"))
            return False
        _give_back_attempt([lim.key for lim in limits])
        return True

    def _give_current_code_back(self) -> None:
        if self.verified_current_code is None:
            return
        try:
            verification.restore_code(self.verified_current_code)
        except ServiceUnavailable:
            logger.warning("could not give back the code to the current number")

    def _give_code_back(self) -> None:
        super()._give_code_back()
        self._give_current_code_back()

    def save(self) -> bool:
        """Store the new number for ``request.user`` and end the user's other
        sessions and tokens; False (with a form error) if the number was
        taken meanwhile or could not be saved.

        The requesting session stays logged in (``update_session_auth_hash``).
        A request authenticated otherwise (a JWT) loses its token too; the
        REST API answers a new one.
        """
        phone = self.cleaned_data["phone"]
        user = self.user
        password = self.cleaned_data.get("current_password") if user.has_usable_password() else None
        adapter = get_adapter()

        def write() -> bool:
            adapter.change_phone(self.request, user, phone)
            adapter.end_other_sessions(self.request, user, password)
            return True

        changed = bool(self.save_account(write))
        if changed:
            keep_session(self.request, user)
        return changed


def phone_change_proof(user: Any) -> tuple[bool, bool]:
    """What ``user`` proves to change their number, besides the session and
    the code to the new number: ``(current password, code to the current
    number)``, from ``SMSVERIFY["PHONE_CHANGE_PROOF"]``.

    ``"password"`` asks for the password, or for a code to the current
    number from an account without a usable password; ``"password_and_code"``
    asks for both. Each only where the account has one: an account with
    neither a usable password nor a number proves nothing more. For an
    anonymous user (the API schema) the answer is the usual one, the password.
    """
    if user is None or not user.is_authenticated:
        return True, False
    has_password = user.has_usable_password()
    has_phone = get_adapter().get_phone(user) is not None
    if app_settings.PHONE_CHANGE_PROOF == "password_and_code":
        return has_password, has_phone
    return has_password, has_phone and not has_password


def send_current_phone_code(request: Any) -> SendResult:
    """Send a ``change_phone`` code to the logged-in user's current number:
    the proof :class:`PhoneChangeForm` asks for in ``current_code``.

    No captcha: the number is the account's own, never one the client
    chooses, and the cooldown and the per-number and per-IP quotas apply as
    to any code. Raises :class:`~django_smsverify.exceptions.InvalidPhoneNumber`
    (code ``current_phone_missing``) when the user has no number, and what
    :func:`~django_smsverify.verification.send_code` raises.
    """
    adapter = get_adapter()
    phone = adapter.get_phone(request.user)
    if phone is None:
        raise InvalidPhoneNumber(
            FORM_MESSAGES["current_phone_missing"], code="current_phone_missing"
        )
    ip = client_key(request) if app_settings.SEND_LIMITS["IP_PER_HOUR"] else None

    def factory(p: str, code: str, pu: str, ttl: int) -> Any:
        return adapter.code_message(request, p, code, pu, ttl)

    return verification.send_code(
        phone, "change_phone", ip=ip, message_factory=factory, request=request
    )


def keep_session(request: Any, user: Any) -> None:
    """Keep ``request``'s session logged in as ``user`` after their session
    auth hash changed (``update_session_auth_hash``); nothing for a request
    whose session is not this user's (a JWT, an anonymous session)."""
    session = getattr(request, "session", None)
    if session is None or session.get(SESSION_KEY) != user._meta.pk.value_to_string(user):
        return
    update_session_auth_hash(request, user)


def _password_limits(request: Any, account: str | None) -> list[Limit]:
    """The ``PASSWORD_LOGIN_LIMITS`` counters a password attempt counts
    against: the account's (``account``, a :func:`limit_key`; none when no
    account can match) and the client's. Password login and the phone
    change's password proof share them, so neither is a way around the other."""
    limits = app_settings.PASSWORD_LOGIN_LIMITS
    found = []
    if account and limits["PHONE_PER_HOUR"] is not None:
        found.append(Limit(account, limits["PHONE_PER_HOUR"], "phone_hour"))
    if limits["IP_PER_HOUR"] is not None:
        client = client_key(request) if request is not None else "-"
        found.append(Limit(limit_key("password_ip", client), limits["IP_PER_HOUR"], "ip_hour"))
    return found


def _give_back_attempt(keys: list[str]) -> None:
    """Uncount a password attempt that turned out right."""
    try:
        get_store().refund(keys, now_ms())
    except ServiceUnavailable:
        # The attempt stays counted; that only makes the limit stricter.
        logger.warning("could not give back a password attempt")


DEFAULT_FORMS: dict[str, type[forms.Form]] = {
    "send_code": SendCodeForm,
    "register": RegistrationForm,
    "login": SmsLoginForm,
    "password_login": PasswordLoginForm,
    "password_reset": PasswordResetForm,
    "phone_change": PhoneChangeForm,
}


def get_form_class(name: str) -> Any:
    """The form class for ``name``: ``SMSVERIFY["FORMS"][name]`` or the default."""
    path = app_settings.FORMS.get(name)
    return import_string(path) if path else DEFAULT_FORMS[name]


__all__ = [
    "DEFAULT_FORMS",
    "PasswordLoginForm",
    "PasswordResetForm",
    "PhoneChangeForm",
    "PhoneCodeForm",
    "RateLimited",
    "RegistrationForm",
    "SendCodeForm",
    "SmsLoginForm",
    "get_form_class",
]
