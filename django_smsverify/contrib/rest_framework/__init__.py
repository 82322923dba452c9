"""A JSON API for single-page front ends, built on Django REST framework.

Install with ``pip install "django-smsverify[drf]"`` and include the URLs::

    path("api/phone/", include("django_smsverify.contrib.rest_framework.urls"))

Every endpoint wraps the same form as the matching web flow (from
:func:`django_smsverify.forms.get_form_class`), so the captcha, the engine's
limits, the adapter and every validation rule are shared, never rewritten.
See ``docs/api.rst``.

This module imports nothing from REST framework, so the system checks in
:mod:`.checks` run (and :mod:`.tokens` imports) on sites without it.
"""

from __future__ import annotations

from django_smsverify.exceptions import MissingDependency


def require_drf() -> None:
    """Raise :class:`~django_smsverify.exceptions.MissingDependency`, naming the
    ``pip install`` line, when Django REST framework is not installed."""
    try:
        import rest_framework  # noqa: F401
    except ImportError as exc:
        raise MissingDependency("drf", "The django-smsverify REST API") from exc
