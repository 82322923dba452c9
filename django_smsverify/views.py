"""Views: the JSON endpoints (``send_code``, ``phone_status``) and the pages
(``register``, ``login``, ``password_reset``, ``phone_change``).

Every page is one HTML form that works without JavaScript: its "Send code"
button posts ``action=send_code`` to the page itself, which sends the code and
shows the page again. ``django_smsverify/smsverify.js`` upgrades that button to
a ``fetch`` to the JSON endpoint with a countdown. JSON answers are
``{"ok": true, ...}`` or ``{"ok": false, "errors": {field: [messages]}}`` with
400 for bad input, 429 (and ``Retry-After``) when limited, 503 when the store,
broker or provider is down; never a 500 for anything a client can send.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render, resolve_url
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from django_smsverify.adapter import client_key, get_adapter
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import (
    FORM_MESSAGES,
    InvalidPhoneNumber,
    RateLimited,
    ServiceUnavailable,
    SmsSendError,
    SmsVerifyError,
)
from django_smsverify.fields import SmsCodeField
from django_smsverify.forms import get_form_class, is_valid_text, send_current_phone_code
from django_smsverify.phone import normalize
from django_smsverify.store import get_store
from django_smsverify.store.base import HOUR_MS, limit_key, now_ms
from django_smsverify.verification import SendResult

logger = logging.getLogger("django_smsverify.views")

#: JSON keys accepted for the captcha's two parts, besides ``captcha_0``/``captcha_1``.
_JSON_ALIASES = {"captcha_key": "captcha_0", "captcha_answer": "captcha_1"}


# JSON helpers ---------------------------------------------------------------


def json_errors(errors: dict[str, list[Any]], status: int = 400, **extra: Any) -> JsonResponse:
    """``{"ok": false, "errors": {...}}`` with ``status``."""
    body = {"ok": False, "errors": {k: [str(m) for m in v] for k, v in errors.items()}}
    body.update(extra)
    return JsonResponse(body, status=status)


def form_errors(form: Any) -> dict[str, list[str]]:
    return {field: [str(e) for e in errs] for field, errs in form.errors.items()}


def rate_limited(exc: RateLimited | Any, field: str = "__all__") -> JsonResponse:
    response = json_errors({field: [exc.message]}, status=429, retry_after=exc.retry_after)
    response["Retry-After"] = str(exc.retry_after)
    return response


def unavailable(exc: SmsVerifyError | None = None) -> JsonResponse:
    message = exc.message if exc is not None else ServiceUnavailable.default_message
    response = json_errors({"__all__": [message]}, status=503)
    response["Retry-After"] = "30"
    return response


def sent(result: SendResult) -> JsonResponse:
    return JsonResponse({"ok": True, **result.answer()})


def request_data(request: HttpRequest) -> QueryDict | dict[str, Any]:
    """The posted fields, from a JSON body or a form-encoded one.

    Raises ``ValueError`` for a JSON body that is not a JSON object, and
    ``ValueError`` or ``LookupError`` for a form body in a charset that cannot
    decode it.
    """
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except RecursionError as exc:  # nested too deep: bad input, not a crash
            raise ValueError("nested too deep") from exc
        if not isinstance(data, dict):
            raise ValueError("not an object")
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict) and key == "captcha":
                flat["captcha_0"] = value.get("key", "")
                flat["captcha_1"] = value.get("answer", "")
            else:
                flat[_JSON_ALIASES.get(key, key)] = (
                    value
                    if isinstance(value, str)
                    else ("" if value is None else json.dumps(value))
                )
        if has_invalid_text(flat):
            raise ValueError("not valid Unicode")
        return flat
    if has_invalid_text(request.POST):
        raise ValueError("not valid Unicode")
    return request.POST


def has_invalid_text(data: Any) -> bool:
    """Whether any key or value of ``data`` (a ``QueryDict`` or a dict) is text
    that is not valid Unicode (see :func:`~django_smsverify.forms.is_valid_text`).
    Anything else (a JSON body that is not an object) holds no such text."""
    if hasattr(data, "lists"):
        items = data.lists()
    elif isinstance(data, dict):
        items = data.items()
    else:
        return False
    return any(
        isinstance(text, str) and not is_valid_text(text)
        for key, value in items
        for text in [key, *(value if isinstance(value, list) else [value])]
    )


@dataclass(frozen=True)
class SendFailure:
    """Why a send-code request was refused: the HTTP status to answer, the
    errors by field, and for 429 the seconds to wait."""

    status: int
    errors: dict[str, list[str]]
    retry_after: int | None = None

    def response(self) -> JsonResponse:
        extra = {"retry_after": self.retry_after} if self.retry_after else {}
        response = json_errors(self.errors, status=self.status, **extra)
        if self.status == 429:
            response["Retry-After"] = str(self.retry_after)
        elif self.status == 503:
            response["Retry-After"] = "30"
        return response


def attempt_send(form: Any) -> SendResult | SendFailure:
    """Validate a send-code form and send: the result, or why not."""
    if not form.is_valid():
        if form.is_unavailable():
            return SendFailure(503, {"__all__": [str(ServiceUnavailable.default_message)]})
        return SendFailure(400, form_errors(form))
    try:
        return form.send()
    except RateLimited as exc:
        return SendFailure(429, {"__all__": [str(exc.message)]}, exc.retry_after)
    except ServiceUnavailable as exc:
        return SendFailure(503, {"__all__": [str(exc.message)]})
    except SmsSendError as exc:
        logger.warning("code not sent: %s", exc)
        return SendFailure(503, {"__all__": [str(exc.message)]})


# JSON endpoints -------------------------------------------------------------


@require_POST
@never_cache
def send_code(request: HttpRequest) -> HttpResponse:
    """POST ``phone``, ``purpose`` and the captcha; send a code.

    200 ``{"ok": true, "phone", "resend_after", "expires_in"}``; 400 with field
    errors; 429 with ``retry_after`` and ``Retry-After``; 503.
    """
    try:
        data = request_data(request)
    except (ValueError, LookupError):  # see readable_post
        return json_errors({"__all__": [FORM_MESSAGES["invalid_json"]]})
    outcome = attempt_send(get_form_class("send_code")(data, request=request))
    if isinstance(outcome, SendFailure):
        return outcome.response()
    return sent(outcome)


@require_GET
@never_cache
def phone_status(request: HttpRequest) -> HttpResponse:
    """GET ``?phone=``: whether the number is registered.

    With ``PREVENT_ENUMERATION`` on (the default) this endpoint does not exist
    (404). Otherwise it answers ``{"ok": true, "phone", "registered"}``,
    limited per client IP (``PHONE_STATUS_LIMIT`` per hour).
    """
    if app_settings.PREVENT_ENUMERATION:
        return json_errors({"__all__": [FORM_MESSAGES["not_found"]]}, status=404)
    try:
        phone, registered = lookup_phone_status(request, request.GET.get("phone", ""))
    except RateLimited as exc:
        return rate_limited(exc)
    except ServiceUnavailable as exc:
        return unavailable(exc)
    except InvalidPhoneNumber as exc:
        return json_errors({"phone": [exc.message]})
    return JsonResponse({"ok": True, "phone": phone, "registered": registered})


def lookup_phone_status(request: Any, text: str) -> tuple[str, bool]:
    """Count one ``phone_status`` look-up for the client IP, then normalise
    ``text`` and say whether it is registered: ``(e164, registered)``.

    Shared by this view and the REST API. Callers answer 404 first when
    ``PREVENT_ENUMERATION`` is on. Raises
    :class:`~django_smsverify.exceptions.RateLimited` (``PHONE_STATUS_LIMIT``
    per hour; bad numbers count too, so the limit cannot be probed for free),
    :class:`~django_smsverify.exceptions.ServiceUnavailable` and
    :class:`~django_smsverify.exceptions.InvalidPhoneNumber`.
    """
    adapter = get_adapter()
    get_store().hit(
        limit_key("phone_status", client_key(request)),
        app_settings.PHONE_STATUS_LIMIT,
        HOUR_MS,
        now_ms(),
    )
    phone = normalize(text)
    return phone, adapter.is_registered(phone)


# Pages ----------------------------------------------------------------------


def readable_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer 400 when a POST body cannot be decoded in its declared charset.

    Django's multipart parser decodes field names with ``errors="replace"``,
    which some codecs refuse (``idna`` with a ``UnicodeError``, ``base64`` with
    a ``LookupError``); unhandled, that is a 500 for something any client can
    send. A body in ``charset=utf-7`` can also decode to lone surrogates,
    which no page can echo back and no password hasher can take: 400 too.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            try:
                request.POST  # noqa: B018 - parse now, where the error can be caught
            except (ValueError, LookupError) as exc:  # a UnicodeError; a codec not for text
                raise BadRequest("undecodable request body") from exc
            if has_invalid_text(request.POST):
                raise BadRequest("request body holds text that is not valid Unicode")
        if has_invalid_text(request.GET):
            raise BadRequest("query string holds text that is not valid Unicode")
        return view(request, *args, **kwargs)

    return wrapper


def forget_refused_codes(form: Any) -> None:
    """Show a form again without the codes it refused: a wrong code is of no
    use, and the box is where the next one goes. Other values stay."""
    refused = [
        name
        for name, field in form.fields.items()
        if form.has_error(name) and isinstance(field, SmsCodeField)
    ]
    if refused:
        form.data = form.data.copy()
        for name in refused:
            form.data[name] = ""


def safe_next(request: HttpRequest, default: str | None = None) -> str:
    """The ``next`` parameter if it points to this site, else ``default`` or
    ``LOGIN_REDIRECT_URL``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default or settings.LOGIN_REDIRECT_URL)


@method_decorator(readable_post, name="dispatch")
class FlowView(View):
    """A page with a send-code part and a main form that checks the code.

    Subclasses set ``purpose``, ``form_name`` and ``template_name`` and
    implement :meth:`form_valid`.
    """

    purpose = ""
    form_name = ""
    template_name = ""

    def send_form(self, data: Any = None) -> Any:
        initial = {"phone": self.request.GET.get("phone", "")}
        return get_form_class("send_code")(
            data, request=self.request, purpose=self.purpose, initial=initial
        )

    def main_form(self, data: Any = None) -> Any:
        initial = {"phone": self.request.GET.get("phone", "")}
        return get_form_class(self.form_name)(data, request=self.request, initial=initial)

    def render_page(self, status: int = 200, **context: Any) -> HttpResponse:
        context.setdefault("send_form", self.send_form())
        context.setdefault("form", self.main_form())
        context.update(
            purpose=self.purpose,
            next=self.request.POST.get("next") or self.request.GET.get("next", ""),
            prevent_enumeration=app_settings.PREVENT_ENUMERATION,
            phone_region=app_settings.DEFAULT_REGION,
        )
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_page()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("action") == "send_code":
            return self.post_send_code()
        if request.POST.get("action") == "new_captcha":
            return self.post_new_captcha()
        form = self.main_form(request.POST)
        try:
            valid = form.is_valid()
        except RateLimited as exc:  # PASSWORD_LOGIN_LIMITS
            form.add_error(None, ValidationError(exc.message, code=exc.code))
            response = self.render_page(status=429, form=form, send_form=self.send_form_typed())
            response["Retry-After"] = str(exc.retry_after)
            return response
        if valid:
            response = self.form_valid(form)
            if response is not None:
                return response
        status = 503 if form.is_unavailable() else 400
        forget_refused_codes(form)
        return self.render_page(
            status=status,
            form=form,
            send_form=self.send_form_typed(),
            # Locked out: the send button waits as long as the server will.
            resend_after=getattr(form, "locked_for", None),
        )

    def post_new_captcha(self) -> HttpResponse:
        """The page again after "Show another image" without JavaScript: a new
        challenge and what was typed (passwords aside: a page never echoes
        them). Nothing is checked or sent."""
        main = self.main_form()
        main.initial.update(
            {
                name: self.request.POST.get(name, "")
                for name, field in main.fields.items()
                if not isinstance(field.widget, forms.PasswordInput)
            }
        )
        return self.render_page(form=main, send_form=self.send_form_typed())

    def send_form_typed(self) -> Any:
        """An unbound send-code form showing the number the user posted, for
        a page shown again after anything but a send."""
        return get_form_class("send_code")(
            request=self.request,
            purpose=self.purpose,
            initial={"phone": self.request.POST.get("phone", "")},
        )

    def post_send_code(self) -> HttpResponse:
        send_form = self.send_form(self.request.POST)
        outcome = attempt_send(send_form)
        main = get_form_class(self.form_name)(
            request=self.request,
            initial={"phone": self.request.POST.get("phone", ""), "code": ""},
        )
        if isinstance(outcome, SendResult):
            fresh = get_form_class("send_code")(
                request=self.request, purpose=self.purpose, initial={"phone": outcome.phone}
            )
            return self.render_page(
                send_form=fresh,
                form=main,
                code_sent=True,
                delivery_uncertain=outcome.uncertain,
                resend_after=outcome.resend_after,
                sent_to=outcome.phone,
            )
        if outcome.status in (429, 503):
            # Not a field's fault: show it above the form.
            for message in outcome.errors.get("__all__", []):
                send_form.add_error(None, message)
        return self.render_page(
            status=outcome.status,
            send_form=send_form,
            form=main,
            resend_after=outcome.retry_after,
        )

    def form_valid(self, form: Any) -> HttpResponse | None:
        raise NotImplementedError


@method_decorator(never_cache, name="dispatch")
class RegisterView(FlowView):
    """Sign up: number, captcha, code, password twice; then logged in."""

    purpose = "register"
    form_name = "register"
    template_name = "django_smsverify/register.html"

    def form_valid(self, form: Any) -> HttpResponse | None:
        user = form.save()
        if user is None:
            return None
        get_adapter().login(self.request, user)
        return redirect(safe_next(self.request))


@method_decorator(never_cache, name="dispatch")
class LoginView(FlowView):
    """Log in by SMS code (default) or, with ``?method=password``, by password."""

    purpose = "login"
    form_name = "login"
    template_name = "django_smsverify/login.html"

    def password_mode(self) -> bool:
        return (self.request.POST.get("method") or self.request.GET.get("method")) == "password"

    def main_form(self, data: Any = None) -> Any:
        if self.password_mode():
            return get_form_class("password_login")(data, request=self.request)
        return super().main_form(data)

    def render_page(self, status: int = 200, **context: Any) -> HttpResponse:
        context["password_mode"] = self.password_mode()
        return super().render_page(status=status, **context)

    def form_valid(self, form: Any) -> HttpResponse | None:
        user = form.get_user()
        if user is None:  # one-step login could not create the account
            return None
        get_adapter().login(self.request, user)
        return redirect(safe_next(self.request))


@method_decorator(never_cache, name="dispatch")
class PasswordResetView(FlowView):
    """Reset a forgotten password with a code; then go to the login page."""

    purpose = "reset_password"
    form_name = "password_reset"
    template_name = "django_smsverify/password_reset.html"

    def form_valid(self, form: Any) -> HttpResponse | None:
        form.save()
        return self.render_page(reset_done=True, form=self.main_form())


@method_decorator([never_cache, login_required], name="dispatch")
class PhoneChangeView(FlowView):
    """Change the logged-in user's number, proven by a code sent to the new one
    and by ``PHONE_CHANGE_PROOF`` (the current password, or a code sent to the
    current number: ``action=send_current_code`` sends it)."""

    purpose = "change_phone"
    form_name = "phone_change"
    template_name = "django_smsverify/phone_change.html"

    def render_page(self, status: int = 200, **context: Any) -> HttpResponse:
        context["current_phone"] = get_adapter().get_phone(self.request.user)
        # Where "Continue" (after the change) and "Back to the site" lead.
        context["continue_url"] = safe_next(self.request)
        return super().render_page(status=status, **context)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("action") == "send_current_code":
            return self.post_send_current_code()
        return super().post(request, *args, **kwargs)

    def post_send_current_code(self) -> HttpResponse:
        """Send the proof code to the current number; show the page again."""
        main = self.main_form()
        # Keep the new number the user may have typed already.
        send_form = self.send_form_typed()
        try:
            result = send_current_phone_code(self.request)
        except (RateLimited, ServiceUnavailable, SmsSendError, InvalidPhoneNumber) as exc:
            if isinstance(exc, SmsSendError):
                logger.warning("code not sent: %s", exc)
            main.add_error(None, ValidationError(exc.message, code=exc.code))
            status = 400 if isinstance(exc, InvalidPhoneNumber) else 503
            if isinstance(exc, RateLimited):
                status = 429
            response = self.render_page(status=status, form=main, send_form=send_form)
            if isinstance(exc, RateLimited):
                response["Retry-After"] = str(exc.retry_after)
            return response
        return self.render_page(form=main, send_form=send_form, current_code_sent=result.phone)

    def form_valid(self, form: Any) -> HttpResponse | None:
        if not form.save():
            return None
        return self.render_page(changed=True, form=self.main_form())


@require_http_methods(["GET", "POST"])
@never_cache
@readable_post
def logout_view(request: HttpRequest) -> HttpResponse:
    """``POST``: log out and go to ``next`` or home. ``GET`` changes nothing
    (a link or a prefetch must not log anyone out, as with Django's
    ``LogoutView``): it shows a page with the button that does."""
    if request.method == "GET":
        return render(
            request, "django_smsverify/logout.html", {"next": safe_next(request, default="/")}
        )
    logout(request)
    return redirect(safe_next(request, default="/"))


def page_title(purpose: str) -> str:
    return {
        "register": _("Sign up"),
        "login": _("Log in"),
        "reset_password": _("Reset password"),
        "change_phone": _("Change phone number"),
    }[purpose]


register = RegisterView.as_view()
login = LoginView.as_view()
password_reset = PasswordResetView.as_view()
phone_change = PhoneChangeView.as_view()
