"""The image captcha solved before any SMS is sent.

The Python API the rest of the app (and a site's own code) uses::

    from django_smsverify import captcha

    if captcha.is_enabled():
        challenge = captcha.new_challenge()      # Challenge(key, expires_in)
        png = captcha.challenge_image(challenge.key)
        ...
        ok = captcha.verify(key, answer)         # consumes the challenge

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

__all__ = [
    "ALPHABET",
    "Challenge",
    "challenge_image",
    "is_enabled",
    "is_live",
    "new_challenge",
    "verify",
]
