"""SMS backends for the benchmark: instead of a provider, the code goes to Redis
(one SET), where the load generator reads it as a person reads their phone."""

from __future__ import annotations

import os
import re

import redis
from phone_verify.backends.base import BaseBackend

from django_smsverify.backends.base import BaseSmsBackend
from django_smsverify.message import SENT, SmsMessage, SmsStatus

_redis = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
_CODE = re.compile(r"(\d{6})")


class CodeToRedisBackend(BaseSmsBackend):
    provider_name = "bench"

    def send_message(self, message: SmsMessage) -> SmsStatus:
        for phone in message.to:
            _redis.set(f"bench:code:{phone}", message.params[0], ex=600)
        return SmsStatus(SENT, provider="bench", recipients=dict.fromkeys(message.to, SENT))


class PeerCodeToRedisBackend(BaseBackend):
    def __init__(self, **options):
        super().__init__(**options)
        self.exception_class = RuntimeError

    def send_sms(self, number, message):
        _redis.set(f"bench:code:{number}", _CODE.search(message).group(1), ex=600)

    def send_bulk_sms(self, numbers, message):
        for number in numbers:
            self.send_sms(number, message)
