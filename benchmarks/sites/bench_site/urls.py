import json

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_POST
from example.urls import urlpatterns as example_urls

from django_smsverify import verification
from django_smsverify.exceptions import SmsVerifyError


def ceiling(request):
    """The trivial JSON view: what the server itself can do, per request."""
    return JsonResponse({"ok": True})


@require_POST
def check(request):
    """What a site's own view does to verify a code: the like-for-like peer of
    django-phone-verify's verify endpoint (no user is created)."""
    data = json.loads(request.body)
    try:
        phone = verification.check_code(data["phone"], data["code"], "register")
    except SmsVerifyError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=400)
    return JsonResponse({"ok": True, "phone": phone})


urlpatterns = [
    path("bench/ceiling/", ceiling),
    path("bench/check/", check),
    path("api/", include("phone_verify.urls")),
    *example_urls,
]
