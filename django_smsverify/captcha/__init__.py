"""The image captcha solved before any SMS is sent.

The Python API the rest of the app (and a site's own code) uses::

    from django_smsverify import captcha

    if captcha.is_enabled():
        challenge = captcha.new_challenge()      # Challenge(key, expires_in)
        png = captcha.challenge_image(challenge.key)
        ...
        ok = captcha.verify(key, answer)         # consumes the challenge

The send-code form and endpoints go through the pluggable human check
(:class:`HumanCheck`, chosen by ``SMSVERIFY["HUMAN_CHECK"]``; the image
captcha is :class:`ImageCaptcha`)::

    check = captcha.get_human_check()
    data = check.render(request)                 # what the page needs
    check.verify(request, {"key": ..., "answer": ...})   # or raises CaptchaInvalid

Forms use :class:`~django_smsverify.captcha.fields.CaptchaField`; the HTTP
endpoints are in :mod:`django_smsverify.captcha.views`. Settings:
``SMSVERIFY["CAPTCHA"]`` (see :attr:`django_smsverify.conf.AppSettings.CAPTCHA`).
"""

from __future__ import annotations

from django_smsverify.captcha.challenge import (
    ALPHABET,
    Challenge,
    challenge_image,
    is_enabled,
    is_live,
    new_challenge,
    verify,
)
from django_smsverify.captcha.human import HumanCheck, ImageCaptcha, get_human_check

__all__ = [
    "ALPHABET",
    "Challenge",
    "HumanCheck",
    "ImageCaptcha",
    "challenge_image",
    "get_human_check",
    "is_enabled",
    "is_live",
    "new_challenge",
    "verify",
]
