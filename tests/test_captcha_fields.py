"""CaptchaField and CaptchaWidget: rendering, validation, outage, test mode."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.urls import reverse

from django_smsverify import captcha
from django_smsverify.captcha.challenge import answer_for
from django_smsverify.captcha.fields import CaptchaField
from django_smsverify.captcha.widgets import CaptchaWidget
from tests.test_captcha import store_down  # noqa: F401 - fixture


class SendForm(forms.Form):
    phone = forms.CharField()
    captcha = CaptchaField()


def rendered_key(html: str) -> str:
    match = re.search(r'<input type="hidden" name="captcha_0" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_widget_renders_image_key_answer_box_and_refresh(store_cache):
    html = str(SendForm()["captcha"])
    key = rendered_key(html)
    assert captcha.is_live(key)
    image = reverse("smsverify:captcha_image", kwargs={"key": key})
    assert f'src="{image}"' in html
    assert f'srcset="{image}?scale=2 2x"' in html
    assert 'width="150" height="50"' in html
    assert 'alt="Characters to type"' in html
    assert f'data-refresh-url="{reverse("smsverify:captcha")}"' in html
    # Without JavaScript the refresh control posts the form (keeping what was typed).
    assert re.search(
        r'<button type="submit" name="action" value="new_captcha" formnovalidate'
        r"[^>]*data-smsverify-captcha-refresh",
        html,
    )
    assert "Show another image" in html
    assert re.search(r'<input type="text" name="captcha_1"[^>]*autocomplete="off"', html)
    assert 'id="id_captcha_1"' in html
    assert "data-smsverify-captcha-key" in html
    assert "data-smsverify-captcha-answer" in html
    # The answer itself is never in the page.
    assert answer_for(key) not in html


def test_label_points_at_the_answer_box(store_cache):
    html = SendForm()["captcha"].label_tag()
    assert 'for="id_captcha_1"' in html
    assert "Characters in the image" in html


def test_widget_media_is_the_vanilla_script(store_cache):
    media = str(SendForm().media)
    assert "/static/django_smsverify/captcha.js" in media


def test_every_render_makes_a_new_challenge_and_never_echoes_input(store_cache):
    key = rendered_key(str(SendForm()["captcha"]))
    form = SendForm(data={"phone": "1", "captcha_0": key, "captcha_1": "TYPED"})
    assert not form.is_valid()
    html = str(form["captcha"])
    new_key = rendered_key(html)
    assert new_key != key
    assert "TYPED" not in html


def test_right_answer_validates_once(store_cache):
    key = rendered_key(str(SendForm()["captcha"]))
    data = {"phone": "1", "captcha_0": key, "captcha_1": answer_for(key).lower()}
    form = SendForm(data=data)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["captcha"] is True
    again = SendForm(data=data)
    assert not again.is_valid()
    assert again.has_error("captcha", "captcha_invalid")


def test_wrong_answer_is_a_user_facing_error_and_burns_the_challenge(store_cache):
    key = rendered_key(str(SendForm()["captcha"]))
    form = SendForm(data={"phone": "1", "captcha_0": key, "captcha_1": "ZZZZZ"})
    assert not form.is_valid()
    assert form.errors["captcha"] == [
        "The characters did not match the image. Please type the ones in the new image."
    ]
    assert not captcha.is_live(key)


@pytest.mark.parametrize(
    "data",
    [{}, {"captcha_0": "", "captcha_1": ""}, {"captcha_1": "ABCD"}],
    ids=["nothing", "blank", "no-key"],
)
def test_missing_parts_are_required_errors(store_cache, data):
    form = SendForm(data={"phone": "1", **data})
    assert not form.is_valid()
    assert form.errors["captcha"] == ["Type the characters shown in the image."]


def test_missing_answer_is_a_required_error(store_cache):
    key = rendered_key(str(SendForm()["captcha"]))
    form = SendForm(data={"phone": "1", "captcha_0": key, "captcha_1": "  "})
    assert not form.is_valid()
    assert form.has_error("captcha", "required")


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("x" * 10_240, "captcha_invalid"),
        ("中文" * 16, "captcha_invalid"),
        # Django's CharField refuses NUL characters before the captcha looks.
        ("AB\x00CD" * 8, "null_characters_not_allowed"),
    ],
    ids=["10KB", "non-ascii", "nul"],
)
def test_garbage_keys_are_invalid_not_errors(store_cache, key, code):
    form = SendForm(data={"phone": "1", "captcha_0": key, "captcha_1": "ABCD"})
    assert not form.is_valid()
    assert form.has_error("captcha", code)


def test_captcha_off_renders_nothing_and_always_validates(store_cache, settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    form = SendForm()
    assert str(form["captcha"]).strip() == ""
    bound = SendForm(data={"phone": "1"})
    assert bound.is_valid(), bound.errors
    assert bound.cleaned_data["captcha"] is True


def test_test_mode_passes_the_fixed_answer(store_cache, settings):
    data = {"phone": "1", "captcha_0": "whatever", "captcha_1": "PASSED"}
    assert not SendForm(data=data).is_valid()
    settings.SMSVERIFY = {"CAPTCHA": {"TEST_MODE": True}}
    assert SendForm(data=data).is_valid()


def test_store_outage_renders_a_message_and_fails_closed(store_down):  # noqa: F811
    html = str(SendForm()["captcha"])
    assert "The service is temporarily unavailable" in html
    assert "<img" not in html
    form = SendForm(data={"phone": "1", "captcha_0": "A" * 32, "captcha_1": "ABCD"})
    assert not form.is_valid()
    assert form.has_error("captcha", "service_unavailable")


def test_widget_attrs_reach_the_answer_box(store_cache):
    class Form(forms.Form):
        captcha = CaptchaField(widget=CaptchaWidget(attrs={"class": "answer", "size": "6"}))

    html = str(Form()["captcha"])
    assert re.search(r'<input type="text" name="captcha_1"[^>]*class="answer"', html)
    assert 'size="6"' in html
