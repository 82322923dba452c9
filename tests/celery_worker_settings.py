"""Django settings for a Celery worker started as a subprocess by the tests.

The test suite's settings, pointed at what the parent test process uses: its
test database (``SMSVERIFY_TEST_DB_NAME``), the Redis cache at ``REDIS_URL``
and the ``SMS_BACKEND``/``SMSVERIFY`` it passes as JSON.
"""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, REDIS_URL

DATABASES = {"default": {**DATABASES["default"], "NAME": os.environ["SMSVERIFY_TEST_DB_NAME"]}}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 5},
    }
}
SMS_BACKEND = os.environ["SMSVERIFY_TEST_SMS_BACKEND"]
SMSVERIFY = json.loads(os.environ["SMSVERIFY_TEST_SMSVERIFY"])
