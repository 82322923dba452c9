"""SMS backends. Pick one with ``settings.SMS_BACKEND``, like ``EMAIL_BACKEND``."""
