"""The human check before a send: one small interface, chosen by a setting.

:class:`HumanCheck` is what the send-code form, its page and the JSON
endpoints talk to: :meth:`~HumanCheck.render` gives what the page or a
single-page app needs to show the check (the image captcha: a new challenge's
key and image URLs), :meth:`~HumanCheck.verify` checks what the client posted
back and raises :class:`~django_smsverify.exceptions.CaptchaInvalid` when it
does not pass. ``SMSVERIFY["HUMAN_CHECK"]`` names the class to use; the
default is :class:`ImageCaptcha`, the image captcha this app ships. A site
plugs in a slider service (Geetest, Tencent Captcha) by subclassing
:class:`HumanCheck`: see ``docs/captcha.rst``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from django_smsverify.captcha import challenge
from django_smsverify.conf import app_settings
from django_smsverify.exceptions import CaptchaInvalid, CaptchaRequired

if TYPE_CHECKING:
    from django_smsverify.captcha.fields import CaptchaField, HumanCheckField


class HumanCheck:
    """Base class of a human check. Subclass it and name the subclass in
    ``SMSVERIFY["HUMAN_CHECK"]``.

    The client posts one value per name in :attr:`fields`, as form fields
    ``captcha_<name>`` (or ``captcha_<index>``; a check with one field also
    takes plain ``captcha``). Instances are created per use and must keep no
    state between requests.
    """

    #: Names of the values the client posts back.
    fields: ClassVar[tuple[str, ...]] = ("token",)
    #: The form field's label.
    label: Any = _("Verification")
    #: Template of the widget inside the send-code form. Its context has
    #: ``widget.check`` (``enabled``, ``data`` from :meth:`render`, or
    #: ``unavailable`` with a message) and one hidden input per field in
    #: ``widget.subwidgets``.
    template_name: ClassVar[str] = "django_smsverify/widgets/human_check.html"

    def is_enabled(self) -> bool:
        """Whether a check is needed at all (``SMSVERIFY["CAPTCHA"]["ENABLED"]``)."""
        return bool(app_settings.CAPTCHA)

    def render(self, request: HttpRequest | None) -> dict[str, Any]:
        """What the page (or a single-page app, through the ``captcha``
        endpoint, which answers ``{"ok": true, **data}``) needs to show a
        new check: JSON-serialisable. ``request`` is ``None`` for a form
        built without one.

        May raise :class:`~django_smsverify.exceptions.RateLimited` (the
        endpoint answers 429) and
        :class:`~django_smsverify.exceptions.ServiceUnavailable` (503).
        """
        return {}

    def verify(self, request: HttpRequest | None, data: Mapping[str, str]) -> None:
        """Check what the client posted: ``data`` maps each name in
        :attr:`fields` to its posted text (``""`` when missing). Return when
        it passes; raise :class:`~django_smsverify.exceptions.CaptchaInvalid`
        (or :class:`~django_smsverify.exceptions.CaptchaRequired`) when it
        does not, and :class:`~django_smsverify.exceptions.ServiceUnavailable`
        when it cannot tell (never pass without knowing)."""
        raise NotImplementedError

    def form_field(self, request: HttpRequest | None = None) -> forms.Field:
        """The form field the send-code form uses for this check."""
        from django_smsverify.captcha.fields import HumanCheckField

        field: HumanCheckField = HumanCheckField(check=self, request=request)
        return field


class ImageCaptcha(HumanCheck):
    """The image captcha: type the characters in a picture.

    :meth:`render` creates a challenge, counted per client against
    ``CREATE_PER_MINUTE`` and ``CREATE_PER_HOUR`` when there is a request,
    and gives ``key``, ``image_url``, ``image_url_2x`` and ``expires_in``.
    The client posts ``key`` and ``answer`` back (``captcha_0`` and
    ``captcha_1`` in a form).
    """

    fields: ClassVar[tuple[str, ...]] = ("key", "answer")
    label: Any = _("Characters in the image")
    template_name: ClassVar[str] = "django_smsverify/widgets/captcha.html"

    def render(self, request: HttpRequest | None) -> dict[str, Any]:
        from django_smsverify.adapter import client_key
        from django_smsverify.captcha.views import image_url

        client = client_key(request) if request is not None else None
        new = challenge.new_challenge(client=client)
        return {
            "key": new.key,
            "image_url": image_url(new.key),
            "image_url_2x": image_url(new.key, scale=2),
            "expires_in": new.expires_in,
        }

    def verify(self, request: HttpRequest | None, data: Mapping[str, str]) -> None:
        key, answer = data.get("key", ""), data.get("answer", "")
        if not key or not answer or not answer.strip():
            raise CaptchaRequired()
        if not challenge.verify(key, answer):
            raise CaptchaInvalid()

    def form_field(self, request: HttpRequest | None = None) -> forms.Field:
        from django_smsverify.captcha.fields import CaptchaField

        field: CaptchaField = CaptchaField(check=self, request=request)
        return field


def get_human_check() -> HumanCheck:
    """A new instance of the class named by ``SMSVERIFY["HUMAN_CHECK"]``.

    Raises :class:`~django.core.exceptions.ImproperlyConfigured` when the
    path cannot be imported or does not name a :class:`HumanCheck` subclass
    (``smsverify.E205`` reports it at start-up).
    """
    return load_human_check(app_settings.HUMAN_CHECK)()


@functools.lru_cache(maxsize=8)
def load_human_check(path: str) -> type[HumanCheck]:
    """The :class:`HumanCheck` subclass at dotted ``path``."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"SMSVERIFY['HUMAN_CHECK'] {path!r} cannot be imported: {exc}"
        ) from exc
    if not (isinstance(found, type) and issubclass(found, HumanCheck)):
        raise ImproperlyConfigured(
            f"SMSVERIFY['HUMAN_CHECK'] {path!r} is not a subclass of "
            "django_smsverify.captcha.HumanCheck."
        )
    return found
