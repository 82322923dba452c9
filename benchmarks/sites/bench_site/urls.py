import json
import os

import redis
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_POST
from example.urls import urlpatterns as example_urls

from django_smsverify import verification
from django_smsverify.exceptions import SmsVerifyError


def ceiling(request):
    """The trivial JSON view: what the server itself can do, per request."""
    return JsonResponse({"ok": True})


_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@require_POST
def floor(request):
    """Only the I/O of a send, with no logic: is the number registered (one
    indexed SELECT), take the limit and store the code (one Redis command),
    hand the SMS to the backend (one Redis SET, as the benchmark's backends do).
    No real app can send a code for less; see the "io floor" row."""
    phone = json.loads(request.body)["phone"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM django_smsverify_phonenumber WHERE number = %s", [phone])
        cursor.fetchone()
    _redis.set(f"bench:floor:{phone}", "hash", nx=True, px=300_000)
    _redis.set(f"bench:code:{phone}", "123456", ex=600)
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
    path("bench/floor/", floor),
    path("api/", include("phone_verify.urls")),
    *example_urls,
]
