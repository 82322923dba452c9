"""The example project, set up for load: Redis cache, PostgreSQL, and the peer
django-phone-verify installed beside django-smsverify on the same server.

Used only by benchmarks/http.py, inside the benchmark's own virtualenv.
"""

import os

from example.settings import *  # noqa: F403
from example.settings import INSTALLED_APPS

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework", "phone_verify", "bench_site"]
ROOT_URLCONF = "bench_site.urls"

REDIS = os.environ["BENCH_REDIS_URL"]
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }
}
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_PGDATABASE", "smsverify_bench"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "CONN_MAX_AGE": 60,
    }
}
# Users are created on every registration; a slow hasher would measure PBKDF2,
# not the apps. Both apps run with the same hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "ERROR", "handlers": []},
}

# django-smsverify: no captcha (a person would solve it), no limits (the load
# comes from one IP), codes go to Redis for the load generator to read.
SMS_BACKEND = "bench_site.sms.CodeToRedisBackend"
SMSVERIFY = {
    "CAPTCHA": False,
    "RESEND_COOLDOWN": 0,
    "SEND_LIMITS": {"PHONE_PER_HOUR": None, "PHONE_PER_DAY": None, "IP_PER_HOUR": None},
    # The benchmark's second server runs with delivery records off.
    "DELIVERY_RECORDS": os.environ.get("BENCH_DELIVERY_RECORDS", "1") == "1",
}

# django-phone-verify, configured as its README says, with a backend that
# hands the code to the load generator the same way.
PHONE_VERIFICATION = {
    "BACKEND": "bench_site.sms.PeerCodeToRedisBackend",
    "OPTIONS": {},
    "TOKEN_LENGTH": 6,
    "MESSAGE": "Welcome to {app}! Please use security code {security_code} to proceed.",
    "APP_NAME": "Bench",
    "SECURITY_CODE_EXPIRATION_TIME": 300,
    "VERIFY_SECURITY_CODE_ONLY_ONCE": True,
}
REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": []}
