"""The captcha widget: image, hidden key, answer box and a refresh control."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.http import HttpRequest
from django.urls import reverse

from django_smsverify.conf import app_settings
from django_smsverify.exceptions import RateLimited, ServiceUnavailable

if TYPE_CHECKING:
    from django_smsverify.captcha.human import HumanCheck


class CaptchaWidget(forms.MultiWidget):
    """Renders a fresh challenge each time: its image, its key in a hidden
    input, an answer box, and a "show another image" button.

    With JavaScript (``django_smsverify/captcha.js``, in this widget's
    ``media``) the button fetches a new challenge from ``smsverify:captcha``
    and swaps the image and key in place. Without it the button submits the
    form with ``action=new_captcha`` (and ``formnovalidate``): the app's pages
    answer with what was typed and a new challenge; a site's own form is
    shown again by its view, which renders a new challenge too.

    A challenge is good for one answer, so the key a form was posted with is
    never rendered again (a form shown again after an error gets a new one),
    and the typed answer is not echoed. Needs the app's URLs included.
    """

    template_name = "django_smsverify/widgets/captcha.html"
    # Django draws a MultiWidget as a fieldset whose legend labels no input;
    # without it the field's <label> points at the answer box (id_for_label),
    # so screen readers announce the box and its errors.
    use_fieldset = False

    #: The :class:`~django_smsverify.captcha.ImageCaptcha` that draws the
    #: challenge, and the request it is counted for (set by the field).
    check: HumanCheck | None = None
    request: HttpRequest | None = None

    class Media:
        js = ("django_smsverify/captcha.js",)

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        answer_attrs = {
            "autocomplete": "off",
            "autocapitalize": "characters",
            "autocorrect": "off",
            "spellcheck": "false",
            "data-smsverify-captcha-answer": True,
        }
        answer_attrs.update(attrs or {})
        widgets = (
            forms.HiddenInput(attrs={"data-smsverify-captcha-key": True}),
            forms.TextInput(attrs=answer_attrs),
        )
        super().__init__(widgets)

    def decompress(self, value: Any) -> list[Any]:
        return [None, None]

    def id_for_label(self, id_: str) -> str:
        # The label belongs to the answer box, not to the hidden key.
        return f"{id_}_1" if id_ else id_

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        from django_smsverify.captcha.human import ImageCaptcha

        check = self.check if self.check is not None else ImageCaptcha()
        info: dict[str, Any] = {"enabled": check.is_enabled()}
        key = ""
        if info["enabled"]:
            options = app_settings.CAPTCHA
            info.update(
                width=int(options.WIDTH),
                height=int(options.HEIGHT),
                refresh_url=reverse("smsverify:captcha"),
            )
            try:
                data = check.render(self.request)
            except (ServiceUnavailable, RateLimited) as exc:
                # Render the form anyway, with the message instead of an image;
                # posting it fails validation, and the page shows it instead
                # of a 500.
                info["unavailable"] = exc.message
            else:
                key = data["key"]
                info.update(image_url=data["image_url"], image_url_2x=data["image_url_2x"])
        context = super().get_context(name, [key, ""], attrs)
        context["widget"]["captcha"] = info
        return context


class HumanCheckWidget(forms.MultiWidget):
    """The widget of any :class:`~django_smsverify.captcha.HumanCheck`: the
    check's own template (``check.template_name``) with what ``check.render()``
    gave, and one hidden input per field, named ``<name>_<field name>``.

    Reads a posted value by field name, else by position (``<name>_0``), else,
    for a check with one field, from plain ``<name>``.
    """

    def __init__(self, *, check: HumanCheck, request: HttpRequest | None = None) -> None:
        self.check = check
        self.request = request
        self.template_name = check.template_name
        super().__init__(
            {
                field: forms.HiddenInput(attrs={"data-smsverify-human-check-field": field})
                for field in check.fields
            }
        )

    def decompress(self, value: Any) -> list[Any]:
        return [None] * len(self.check.fields)

    def value_from_datadict(self, data: Mapping[str, Any], files: Any, name: str) -> list[Any]:
        values = []
        for index, field in enumerate(self.check.fields):
            value = data.get(f"{name}_{field}")
            if value is None:
                value = data.get(f"{name}_{index}")
            if value is None and len(self.check.fields) == 1:
                value = data.get(name)
            values.append(value)
        return values

    def value_omitted_from_data(self, data: Mapping[str, Any], files: Any, name: str) -> bool:
        return all(value is None for value in self.value_from_datadict(data, files, name))

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        info: dict[str, Any] = {"enabled": self.check.is_enabled()}
        if info["enabled"]:
            try:
                info["data"] = self.check.render(self.request)
            except (ServiceUnavailable, RateLimited) as exc:
                info["unavailable"] = exc.message
        context = super().get_context(name, None, attrs)
        context["widget"]["check"] = info
        return context
