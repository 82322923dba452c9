"""The captcha form field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from django_smsverify.captcha.human import HumanCheck, ImageCaptcha
from django_smsverify.captcha.widgets import CaptchaWidget, HumanCheckWidget
from django_smsverify.exceptions import CaptchaInvalid, CaptchaRequired, ServiceUnavailable


class CaptchaField(forms.MultiValueField):
    """A captcha answer: the challenge key (hidden) and the typed characters.

    Cleaning checks the answer with :func:`django_smsverify.captcha.verify`,
    which uses the challenge up, right or wrong; the re-rendered form shows a
    new image. The cleaned value is ``True``. When the captcha is turned off
    (``SMSVERIFY["CAPTCHA"] = False``) the widget renders nothing and the
    field is always valid.

    Errors (codes): ``required``, ``captcha_invalid`` (wrong, expired or used),
    and ``service_unavailable`` when the store is down; a view may answer 503
    for that one (``form.has_error(name, "service_unavailable")``).

    Given the ``request``, each rendering counts one new challenge against
    the client's ``CREATE_PER_MINUTE``/``CREATE_PER_HOUR`` (past a limit the
    widget shows the message instead of an image); without it, rendering is
    not limited. ``check`` is the :class:`~django_smsverify.captcha.ImageCaptcha`
    that verifies the answer (a new one by default).
    """

    widget = CaptchaWidget
    default_error_messages = {
        "required": CaptchaRequired.default_message,
        "incomplete": CaptchaRequired.default_message,
        CaptchaInvalid.code: CaptchaInvalid.default_message,
    }

    def __init__(
        self,
        *,
        check: ImageCaptcha | None = None,
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        self.check = check if check is not None else ImageCaptcha()
        self.request = request
        kwargs.setdefault("label", self.check.label)
        fields = (forms.CharField(), forms.CharField())
        super().__init__(fields, require_all_fields=True, **kwargs)
        self.widget.check = self.check
        self.widget.request = request

    def compress(self, data_list: list[Any]) -> tuple[str, str]:
        if not data_list:
            return ("", "")
        return (data_list[0], data_list[1])

    def clean(self, value: Any) -> bool:
        if not self.check.is_enabled():
            return True
        key, answer = super().clean(value)
        if not key or not answer:  # e.g. only spaces, stripped by the sub-field
            raise ValidationError(self.error_messages["required"], code="required")
        try:
            self.check.verify(self.request, {"key": key, "answer": answer})
        except ServiceUnavailable as exc:
            raise ValidationError(exc.message, code=exc.code) from exc
        except CaptchaInvalid as exc:
            raise ValidationError(
                self.error_messages[CaptchaInvalid.code], code=CaptchaInvalid.code
            ) from exc
        return True


class HumanCheckField(forms.MultiValueField):
    """The field of any :class:`~django_smsverify.captcha.HumanCheck`: one
    value per name in ``check.fields``, checked by ``check.verify()``.

    Posted as ``<name>_<field name>`` (``captcha_token``), or by position
    (``captcha_0``, as the REST API names them); a check with one field also
    takes plain ``<name>``. The cleaned value is ``True``; always valid when
    ``check.is_enabled()`` is false. Errors carry the code of the exception
    ``verify()`` raised (``captcha_invalid``, ``captcha_required``,
    ``service_unavailable``).
    """

    def __init__(
        self,
        *,
        check: HumanCheck,
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        self.check = check
        self.request = request
        kwargs.setdefault("label", check.label)
        kwargs.setdefault("widget", HumanCheckWidget(check=check, request=request))
        fields = tuple(forms.CharField(required=False) for _ in check.fields)
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list: list[Any]) -> list[Any]:
        return list(data_list)

    def clean(self, value: Any) -> bool:
        if not self.check.is_enabled():
            return True
        values = value if isinstance(value, (list, tuple)) else []
        data = {
            name: values[i].strip() if i < len(values) and isinstance(values[i], str) else ""
            for i, name in enumerate(self.check.fields)
        }
        try:
            self.check.verify(self.request, data)
        except (CaptchaInvalid, ServiceUnavailable) as exc:
            raise ValidationError(exc.message, code=exc.code) from exc
        return True
