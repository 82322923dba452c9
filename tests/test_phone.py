"""Phone numbers: every spelling of one number becomes one E.164 string; garbage is refused."""

from __future__ import annotations

import pytest

from django_smsverify.exceptions import InvalidPhoneNumber, UnsupportedRegion
from django_smsverify.phone import display, masked, national_number, normalize, region_of


@pytest.mark.parametrize(
    "raw",
    [
        "138 0013 8000",
        "+86 138-0013-8000",
        "008613800138000",
        "+8613800138000",
        "13800138000",
        "(138) 0013.8000",
        " 13800138000 ",
        "１３８００１３８０００",  # full-width digits from a Chinese IME
        "＋８６１３８００１３８０００",
    ],
)
def test_spellings_of_one_number_normalise_alike(raw):
    assert normalize(raw) == "+8613800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "1380013800O",  # letter O, not zero
        "1-800-FLOWERS",
        "138\x0000138000",
        "1" * 10_000,
        "+" * 40,
        "138001380001380013800",
        "12345",
        "010 1234 5678",  # Beijing fixed line
        "+86 10 1234 5678",
        "13800138000; DROP TABLE",
        "<script>",
    ],
)
def test_garbage_and_non_mobile_numbers_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber) as excinfo:
        normalize(raw)
    assert str(excinfo.value)  # a message a person can read


@pytest.mark.parametrize("value", [None, 13800138000, b"13800138000", ["13800138000"]])
def test_non_strings_are_refused(value):
    with pytest.raises(InvalidPhoneNumber):
        normalize(value)


def test_other_regions_refused_by_default():
    with pytest.raises(UnsupportedRegion):
        normalize("+852 5123 4567")


def test_allowed_regions_setting(settings):
    settings.SMSVERIFY = {"ALLOWED_REGIONS": ["CN", "HK"]}
    assert normalize("+852 5123 4567") == "+85251234567"
    with pytest.raises(UnsupportedRegion):
        normalize("+1 415 555 0123")


def test_all_regions(settings):
    settings.SMSVERIFY = {"ALLOWED_REGIONS": "__all__"}
    assert normalize("+44 7400 123456") == "+447400123456"


def test_default_region_reads_local_numbers(settings):
    settings.SMSVERIFY = {"DEFAULT_REGION": "HK", "ALLOWED_REGIONS": ["HK"]}
    assert normalize("5123 4567") == "+85251234567"


def test_message_is_translated():
    from django.utils import translation

    with translation.override("zh-hans"), pytest.raises(InvalidPhoneNumber) as excinfo:
        normalize("abc")
    with translation.override("zh-hans"):
        assert str(excinfo.value) == "请输入有效的手机号码。"


def test_helpers():
    assert region_of("+8613800138000") == "CN"
    assert region_of("+") is None
    assert national_number("+8613800138000") == "13800138000"


@pytest.mark.parametrize(
    ("e164", "national", "hidden"),
    [
        ("+8613800138000", "138 0013 8000", "138****8000"),
        ("+447400123456", "+44 7400 123456", "+44 740***3456"),
        ("+85291234567", "+852 9123 4567", "+852 91**4567"),
    ],
)
def test_numbers_are_shown_as_people_write_them(e164, national, hidden):
    assert display(e164) == national
    assert masked(e164) == hidden


def test_display_follows_the_default_region(settings):
    settings.SMSVERIFY = {"DEFAULT_REGION": "GB", "ALLOWED_REGIONS": None}
    assert display("+447400123456") == "07400 123456"
    assert display("+8613800138000") == "+86 138 0013 8000"


@pytest.mark.parametrize("text", ["12345", "138 0013 8000", "", "+86123"])
def test_display_leaves_what_is_not_e164_alone(text):
    assert display(text) == text
    assert masked(text) == text


def test_template_filters_and_the_phone_input(rf):
    from django.template import Context, Template

    from django_smsverify.fields import PhoneNumberField

    html = Template("{% load smsverify %}{{ n|phone_national }}|{{ n|phone_masked }}").render(
        Context({"n": "+8613800138000"})
    )
    assert html == "138 0013 8000|138****8000"
    field = PhoneNumberField()
    assert 'value="138 0013 8000"' in field.widget.render("phone", "+8613800138000")
    # What a person typed is shown as typed, even if it is a valid number.
    assert 'value="13800138000"' in field.widget.render("phone", "13800138000")
