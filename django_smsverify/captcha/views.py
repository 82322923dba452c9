"""HTTP endpoints of the captcha: a new challenge (JSON) and its image (PNG).

Neither is ever a 500 for anything a client can send: an unknown, expired,
used or malformed key is a 404, too many new challenges from one client a
429 JSON answer with ``Retry-After``, a store outage a 503 JSON answer.

``smsverify:captcha`` serves whichever :class:`~django_smsverify.captcha.HumanCheck`
``SMSVERIFY["HUMAN_CHECK"]`` names: ``{"ok": true, **check.render(request)}``.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

from django_smsverify import captcha
from django_smsverify.exceptions import RateLimited, ServiceUnavailable


def image_url(key: str, *, scale: int = 1) -> str:
    """The URL of the image of challenge ``key`` (``scale`` 2 for high-DPI screens)."""
    url = reverse("smsverify:captcha_image", kwargs={"key": key})
    return f"{url}?scale=2" if scale == 2 else url


@require_safe
def new_challenge(request: HttpRequest) -> HttpResponse:
    """``GET``: a new challenge, ``{"ok": true, "key": ..., "image_url": ..., ...}``.

    Also gives ``image_url_2x`` and ``expires_in`` (seconds); with another
    ``HUMAN_CHECK``, what its ``render()`` gives. 404 when the captcha is
    turned off; 429 with ``retry_after`` and ``Retry-After`` past the
    client's ``CREATE_PER_MINUTE``/``CREATE_PER_HOUR``; 503 when the store is
    down or the client's address is unknown.
    """
    check = captcha.get_human_check()
    if not check.is_enabled():
        raise Http404
    try:
        data = check.render(request)
    except ServiceUnavailable as exc:
        return _unavailable(exc)
    except RateLimited as exc:
        return _limited(exc)
    response = JsonResponse({"ok": True, **data})
    add_never_cache_headers(response)
    return response


@require_safe
def challenge_image(request: HttpRequest, key: str) -> HttpResponse:
    """``GET``: the PNG of challenge ``key``; ``?scale=2`` for twice the size.

    Reading the image does not use up the challenge. 404 for a key that is not
    live or a scale other than 1 or 2; 503 when the store is down.
    """
    scale = request.GET.get("scale", "1")
    if scale not in ("1", "2"):
        raise Http404
    try:
        png = captcha.challenge_image(key, scale=int(scale))
    except ServiceUnavailable as exc:
        return _unavailable(exc)
    if png is None:
        raise Http404
    response = HttpResponse(png, content_type="image/png")
    # Each image is good for one answer: no browser or proxy may keep it.
    response["Cache-Control"] = "no-store"
    return response


def _unavailable(exc: ServiceUnavailable) -> JsonResponse:
    response = JsonResponse({"ok": False, "errors": {"__all__": [str(exc.message)]}}, status=503)
    response["Retry-After"] = "30"
    add_never_cache_headers(response)
    return response


def _limited(exc: RateLimited) -> JsonResponse:
    # The shape of every other endpoint's 429 (django_smsverify.views.rate_limited).
    response = JsonResponse(
        {"ok": False, "errors": {"__all__": [str(exc.message)]}, "retry_after": exc.retry_after},
        status=429,
    )
    response["Retry-After"] = str(exc.retry_after)
    add_never_cache_headers(response)
    return response
