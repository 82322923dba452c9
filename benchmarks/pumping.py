"""SMS pumping against the guard: what an attacker gets, what real users lose.

    python benchmarks/pumping.py [--legit 3000] [--attack 3000] [--seed 1]
                                 [--redis-url redis://127.0.0.1:6379/13]

A simulated site with every default (the pumping guard on) takes two kinds of
traffic, interleaved on one simulated clock, through its real send-code
endpoint (``POST /accounts/phone/send-code/``, Django's test client, the
captcha solved through its test mode, every client address its own
``REMOTE_ADDR``) and the real Redis store:

- **real users**: random valid mobile numbers, 70 % Chinese and the rest
  spread over nine other regions the site allows, arriving evenly over three
  hours; 80 % of them type their code 15 to 120 seconds later;
- **the attacker**: from minute 30, five requests a second, numbers inside
  three blocks (one walked in sequence, two at random), rotating 1,000
  client addresses, never verifying;
- and, as a second scenario, **a slow drip**: one request a minute for a day
  to one block, which stays under the burst limit.

It prints the SMS the attacker got before the guard stopped it, the share of
real users' sends that were refused, and which rules fired. Targets: at most
20 attacker SMS in the burst scenario, at most 1 % of real users refused.
The time is simulated (``time.time`` is moved forward), so a three-hour run
takes seconds. Without ``--redis-url`` a redis-server of its own is started.
"""

from __future__ import annotations

import argparse
import collections
import heapq
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The project root replaces this folder on the path: the folder's http.py
# would otherwise hide the standard library's http package.
sys.path[0] = str(ROOT)

urlpatterns: list[Any] = []  # filled in configure(); this module is the ROOT_URLCONF

#: Regions real users come from, with their weights.
REGIONS = {
    "CN": 70,
    "US": 5,
    "GB": 4,
    "DE": 4,
    "FR": 3,
    "JP": 4,
    "IN": 3,
    "BR": 3,
    "AU": 2,
    "SG": 2,
}

#: The attacker's three blocks (country code and 6 digits: the guard's prefix).
ATTACK_BLOCKS = ("+86170012", "+86165900", "+86171355")


class SimClock:
    """``time.time`` replaced by a simulated clock the run moves forward."""

    def __init__(self) -> None:
        self.now = time.time()
        self._real = time.time

    def install(self) -> None:
        time.time = lambda: self.now  # type: ignore[assignment]

    def uninstall(self) -> None:
        time.time = self._real  # type: ignore[assignment]


def configure(redis_url: str, db_path: str) -> None:
    import django
    from django.conf import settings
    from django.urls import include, path

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-not-a-secret",  # noqa: S106
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django_smsverify",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        ROOT_URLCONF=__name__,
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db_path}},
        CACHES={"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": redis_url}},
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        SMS_BACKEND="django_smsverify.backends.locmem.SmsBackend",
        SMSVERIFY={
            # The run's clock is simulated (time.time), so the store must use it.
            "CLOCK": "app",
            "ALLOWED_REGIONS": list(REGIONS),
            # Solved by the bots too: the captcha is not what stops them here.
            "CAPTCHA": {"TEST_MODE": True, "CREATE_PER_MINUTE": None, "CREATE_PER_HOUR": None},
        },
        USE_TZ=True,
        LOGGING_CONFIG=None,
        SILENCED_SYSTEM_CHECKS=["smsverify.E201"],
    )
    django.setup()
    # Thousands of refusals would each log a warning; the tallies say it all.
    logging.disable(logging.WARNING)
    urlpatterns.append(path("accounts/phone/", include("django_smsverify.urls")))
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def random_mobile(rng: random.Random, region: str) -> str:
    """A random mobile number of ``region`` that the app accepts, in E.164."""
    import phonenumbers
    from phonenumbers import PhoneNumberType

    from django_smsverify.exceptions import InvalidPhoneNumber
    from django_smsverify.phone import normalize

    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    national = str(example.national_number)
    while True:
        # Keep the first two digits (the mobile range), randomise the rest.
        digits = national[:2] + "".join(rng.choice("0123456789") for _ in national[2:])
        try:
            return normalize(f"+{example.country_code}{digits}")
        except InvalidPhoneNumber:
            continue


def block_number(block: str, i: int) -> str:
    return f"{block}{i:05d}"


def run_scenario(
    events: list[tuple[float, int, str, dict[str, Any]]], clock: SimClock
) -> dict[str, Any]:
    """Play ``events`` (time, order, kind, data) in time order; return the tallies."""
    from django.test import Client

    import django_smsverify
    from django_smsverify import signals, verification
    from django_smsverify.exceptions import SmsVerifyError

    client = Client()
    rules: collections.Counter[str] = collections.Counter()
    tally: dict[str, Any] = {
        "legit_sends": 0,
        "legit_refused": 0,
        "legit_refused_by": collections.Counter(),
        "attack_requests": 0,
        "attack_sms": 0,
        "attack_refused": 0,
        "verified": 0,
        "last_attack_sms_at": None,
        "rules": rules,
    }

    def on_refusal(sender: Any, rule: str, **kwargs: Any) -> None:
        rules[rule] += 1

    signals.pumping_suspected.connect(on_refusal)
    heap = list(events)
    heapq.heapify(heap)
    start = clock.now
    try:
        while heap:
            at, order, kind, data = heapq.heappop(heap)
            clock.now = start + at
            if kind == "verify":
                code = data["code"]
                try:
                    verification.check_code(data["phone"], code, "register")
                    tally["verified"] += 1
                except SmsVerifyError:
                    pass
                continue
            before = len(django_smsverify.outbox)
            response = client.post(
                "/accounts/phone/send-code/",
                {
                    "phone": data["phone"],
                    "purpose": "register",
                    "captcha_0": "any",
                    "captcha_1": "PASSED",
                },
                REMOTE_ADDR=data["ip"],
            )
            sent = len(django_smsverify.outbox) > before
            if kind == "legit":
                tally["legit_sends"] += 1
                if not sent:
                    tally["legit_refused"] += 1
                    tally["legit_refused_by"][response.status_code] += 1
                elif data["verifies"]:
                    message = django_smsverify.outbox[-1]
                    heapq.heappush(
                        heap,
                        (
                            at + data["delay"],
                            order,
                            "verify",
                            {"phone": data["phone"], "code": message.params[0]},
                        ),
                    )
            else:
                tally["attack_requests"] += 1
                if sent:
                    tally["attack_sms"] += 1
                    tally["last_attack_sms_at"] = at
                else:
                    tally["attack_refused"] += 1
            django_smsverify.outbox.clear()
    finally:
        signals.pumping_suspected.disconnect(on_refusal)
    return tally


def burst_events(args: argparse.Namespace, rng: random.Random) -> list[Any]:
    events: list[Any] = []
    order = 0
    regions = list(REGIONS)
    weights = list(REGIONS.values())
    duration = 3 * 3600
    for i in range(args.legit):
        region = rng.choices(regions, weights)[0]
        events.append(
            (
                duration * i / args.legit + rng.random(),
                order,
                "legit",
                {
                    "phone": random_mobile(rng, region),
                    "ip": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                    "verifies": rng.random() < 0.8,
                    "delay": rng.uniform(15, 120),
                },
            )
        )
        order += 1
    sequential = 0
    for i in range(args.attack):
        block = ATTACK_BLOCKS[i % len(ATTACK_BLOCKS)]
        if block == ATTACK_BLOCKS[0]:
            phone = block_number(block, sequential)
            sequential += 1
        else:
            phone = block_number(block, rng.randrange(100_000))
        events.append(
            (
                1800 + i / args.attack_rate,
                order,
                "attack",
                {"phone": phone, "ip": f"203.0.{i % 1000 // 250}.{i % 250 + 1}"},
            )
        )
        order += 1
    return events


def drip_events(rng: random.Random) -> list[Any]:
    # One request a minute for a day, to one block, from rotating addresses.
    return [
        (
            60.0 * i,
            i,
            "attack",
            {
                "phone": block_number("+86170077", rng.randrange(100_000)),
                "ip": f"198.18.{i % 1000 // 250}.{i % 250 + 1}",
            },
        )
        for i in range(24 * 60)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legit", type=int, default=3000, help="real users' sends")
    parser.add_argument("--attack", type=int, default=3000, help="attacker's requests")
    parser.add_argument("--attack-rate", type=float, default=5.0, help="attacker requests/s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    redis_url = args.redis_url
    if redis_url is None:
        os.environ.pop("REDIS_URL", None)
        from tests import own_redis

        own_redis.ensure()
        redis_url = os.environ["REDIS_URL"]
    with tempfile.TemporaryDirectory() as tmp:
        configure(redis_url, str(Path(tmp) / "pumping.sqlite3"))
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        rng = random.Random(args.seed)
        clock = SimClock()
        clock.install()
        try:
            started = time.perf_counter()
            burst = run_scenario(burst_events(args, rng), clock)
            redis.Redis.from_url(redis_url).flushdb()
            drip = run_scenario(drip_events(rng), clock)
            elapsed = time.perf_counter() - started
        finally:
            clock.uninstall()
        redis.Redis.from_url(redis_url).flushdb()

    legit_share = burst["legit_refused"] / max(1, burst["legit_sends"])
    print(
        f"SMS pumping benchmark (seed {args.seed}; {elapsed:.0f} s of real time for "
        f"3 h and 24 h simulated; every default setting but CLOCK (the run's clock is simulated))"
    )
    print(
        f"  burst: {burst['attack_requests']} attacker requests at {args.attack_rate:g}/s "
        f"into {len(ATTACK_BLOCKS)} blocks from 1,000 addresses, among "
        f"{burst['legit_sends']} real users' sends"
    )
    when = burst["last_attack_sms_at"]
    print(
        f"    attacker SMS sent: {burst['attack_sms']} "
        f"(the last {when - 1800:.0f} s into the attack)"
        if when is not None
        else f"    attacker SMS sent: {burst['attack_sms']}"
    )
    print(
        f"    real users refused: {burst['legit_refused']} of {burst['legit_sends']} "
        f"({legit_share * 100:.2f} %) {dict(burst['legit_refused_by'])}"
    )
    print(f"    codes verified by real users: {burst['verified']}")
    print(f"    guard refusals by rule: {dict(burst['rules'])}")
    print(
        f"  slow drip: {drip['attack_requests']} requests, one a minute for 24 h, to one block: "
        f"attacker SMS sent: {drip['attack_sms']}; refusals by rule: {dict(drip['rules'])}"
    )
    attack_ok = burst["attack_sms"] <= 20
    legit_ok = legit_share <= 0.01
    print(f"target at most 20 attacker SMS: {'met' if attack_ok else 'NOT met'}")
    print(f"target at most 1 % of real users refused: {'met' if legit_ok else 'NOT met'}")
    return 0 if attack_ok and legit_ok else 1


if __name__ == "__main__":
    sys.exit(main())
