"""Phone-number parsing on the ``phonenumbers`` library.

Every number enters the app through :func:`normalize`, which returns E.164.
All the spellings of one number (``138 0013 8000``, ``+86 138-0013-8000``,
``008613800138000``) become the same string, so no limit keyed on the number
can be dodged by reformatting it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from django_smsverify.conf import app_settings
from django_smsverify.exceptions import InvalidPhoneNumber, UnsupportedRegion

# E.164 allows 15 digits; with spaces, dashes, brackets and a 00 prefix a real
# number never needs more than this. Longer input is refused before parsing.
MAX_INPUT_LENGTH = 32

# Letters are refused on purpose: phonenumbers would map them to keypad digits
# ("1-800-FLOWERS"), which is never what a person typing a mobile number means.
_ALLOWED = re.compile(r"^\+?[0-9 ()\-.]+$")

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})


def normalize(raw: object, region: str | None = None) -> str:
    """Return ``raw`` as an E.164 mobile number, or raise :class:`InvalidPhoneNumber`.

    Numbers without a leading ``+`` are read in ``region`` (default
    ``SMSVERIFY["DEFAULT_REGION"]``, ``"CN"``). Fixed lines, numbers outside
    ``ALLOWED_REGIONS`` (:class:`UnsupportedRegion`) and anything that is not
    plainly a phone number are refused.
    """
    e164, number_region = _read(raw, region)
    allowed = app_settings.ALLOWED_REGIONS
    if allowed is not None and number_region not in allowed:
        raise UnsupportedRegion()
    return e164


def _read(raw: object, region: str | None) -> tuple[str, str | None]:
    """E.164 and region code of the mobile number ``raw`` spells, else InvalidPhoneNumber."""
    if not isinstance(raw, str):
        raise InvalidPhoneNumber()
    # NFKC folds full-width digits and plus signs (common from Chinese IMEs).
    text = unicodedata.normalize("NFKC", raw[: MAX_INPUT_LENGTH * 4]).strip()
    if not text or len(text) > MAX_INPUT_LENGTH or not _ALLOWED.match(text):
        raise InvalidPhoneNumber()
    return _parse_mobile(text, (region or app_settings.DEFAULT_REGION).upper())


# A request that sends a code reads its number twice (the form field, then the
# engine), and parsing is most of normalize's cost. The result depends only on
# the text and the region, never on settings, so a small memo is safe; invalid
# input raises and is not kept.
@lru_cache(maxsize=2048)
def _parse_mobile(text: str, region: str) -> tuple[str, str | None]:
    """E.164 and region code of a valid mobile number, else InvalidPhoneNumber."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber() from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber()
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber()
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(number),
    )


def region_of(e164: str) -> str | None:
    """The ISO region code of an E.164 number, or None."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def national_number(e164: str) -> str:
    """The national significant number of an E.164 number (``13800138000``)."""
    return str(phonenumbers.parse(e164, None).national_number)


def read_stored(raw: object, region: str | None = None) -> str | None:
    """The E.164 form of a number a site stored in its own spelling, or None.

    For numbers that are already in the database (a user model's ``mobile``
    column, say): unlike :func:`normalize` it does not apply
    ``ALLOWED_REGIONS``, since a stored number is the site's record rather
    than a request, and it answers None instead of raising for rows that hold
    no valid mobile number.
    """
    try:
        return _read(raw, region)[0]
    except InvalidPhoneNumber:
        return None


def display(e164: object, region: str | None = None) -> str:
    """``e164`` the way people of ``region`` (default ``DEFAULT_REGION``) write it.

    A number of that region in its national format (``138 0013 8000``), any
    other in the international one (``+44 7400 123456``). Anything that is not
    a valid E.164 number comes back unchanged, so what a person typed is never
    rewritten into something else.
    """
    number = _parse_e164(e164)
    if number is None:
        return "" if e164 is None else str(e164)
    home = (region or app_settings.DEFAULT_REGION).upper()
    if phonenumbers.region_code_for_number(number) == home:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def masked(e164: object, region: str | None = None) -> str:
    """``e164`` with the middle digits hidden, for status messages (``138****8000``).

    A page that says where a code went should not show a whole number to
    whoever looks over the user's shoulder or at a screenshot; the first three
    and last four digits are what people recognise their number by. Numbers of
    another region keep their ``+country`` prefix (``+44 740****3456``).
    """
    number = _parse_e164(e164)
    if number is None:
        return "" if e164 is None else str(e164)
    digits = phonenumbers.national_significant_number(number)
    keep_head = 3 if len(digits) >= 10 else max(len(digits) - 6, 1)
    hidden = max(len(digits) - keep_head - 4, 1)
    text = digits[:keep_head] + "*" * hidden + digits[keep_head + hidden :]
    home = (region or app_settings.DEFAULT_REGION).upper()
    if phonenumbers.region_code_for_number(number) == home:
        return text
    return f"+{number.country_code} {text}"


def _parse_e164(value: object) -> phonenumbers.PhoneNumber | None:
    if not isinstance(value, str) or not value.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None
