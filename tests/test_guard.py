"""The SMS-pumping guard (issue: operations). A pumping run rotates numbers
inside a block and client addresses across a botnet, so it stays under every
per-number and per-address limit: before the guard, all 100 sends of
``test_a_pumping_run_is_stopped_by_the_prefix_burst_limit`` went out.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.test import Client

import django_smsverify
from django_smsverify import signals, stats, verification
from django_smsverify.exceptions import RateLimited, SmsSendError
from django_smsverify.guard import number_parts
from tests.helpers import last_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store_cache")]


def block(prefix6: str, n: int, start: int = 0) -> list[str]:
    """``n`` numbers of the Chinese block ``+86 <prefix6>`` (11 digits)."""
    return [f"+86{prefix6}{i:05d}" for i in range(start, start + n)]


def ip(i: int) -> str:
    return f"198.51.{i // 250}.{i % 250 + 1}"


@pytest.fixture
def refusals():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    signals.pumping_suspected.connect(receiver)
    yield seen
    signals.pumping_suspected.disconnect(receiver)


@pytest.fixture
def clock(monkeypatch, app_clock):
    """Move the app's clock (``time.time``) forward without waiting."""
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def run(numbers, purpose="register"):
    sent, refused = [], []
    for i, phone in enumerate(numbers):
        try:
            verification.send_code(phone, purpose, ip=ip(i))
            sent.append(phone)
        except RateLimited as exc:
            refused.append(exc)
    return sent, refused


def test_number_parts():
    assert number_parts("+8613800138000", 6) == ("+86138001", "CN")
    assert number_parts("+14155550123", 6) == ("+1415555", "US")
    assert number_parts("+447400123456", 4) == ("+447400", "GB")


def test_a_pumping_run_is_stopped_by_the_prefix_burst_limit(refusals, caplog):
    sent, refused = run(block("170012", 100))
    assert len(sent) == 5  # PREFIX_BURST
    assert len(django_smsverify.outbox) == 5
    assert len(refused) == 95
    # Answered like any other limit: the scope says "guard", the message
    # does not say which rule, and the wait is the cool-off.
    assert {exc.scope for exc in refused} == {"guard"}
    assert str(refused[0]) == "Too many requests. Please try again in 60 minutes."
    assert refused[0].retry_after == 3600
    assert refusals[0]["rule"] == "prefix_burst"
    assert refusals[0]["prefix"] == "+86170012"
    assert refusals[0]["region"] == "CN"
    assert {r["rule"] for r in refusals[1:]} == {"prefix_blocked"}
    assert len(refusals) == 95
    assert "pumping guard refused" in caplog.text and "+86170012" in caplog.text
    # Other blocks are not affected.
    assert run(block("139001", 3))[0] == block("139001", 3)


def test_the_block_lasts_the_cool_off_and_doubles_for_a_second_burst(clock, refusals):
    run(block("170012", 11))
    clock(3599)
    assert run(block("170012", 1, start=50))[0] == []
    clock(2)
    # The cool-off is over and the burst's sends have left the 10-minute window.
    sent, refused = run(block("170012", 10, start=60))
    assert len(sent) == 5
    # A second burst within a day of the first block: twice the cool-off.
    assert refused[0].retry_after == 7200
    assert refusals[-len(refused)]["rule"] == "prefix_burst"
    clock(7201)
    sent, refused = run(block("170012", 10, start=80))
    assert (len(sent), refused[0].retry_after) == (5, 14400)


def test_sends_spread_over_time_are_not_a_burst(clock, settings):
    settings.SMSVERIFY = {"PUMPING_GUARD": {"PREFIX_MIN_SENDS": None}}
    for i in range(30):
        assert run(block("170012", 1, start=i))[0], i
        clock(150)  # 30 sends in 75 minutes: at most 5 in any 10 minutes


def test_sends_refused_by_other_limits_do_not_count_as_a_burst():
    phone = block("170012", 1)[0]
    verification.send_code(phone, "register", ip=ip(0))
    for _ in range(20):
        with pytest.raises(RateLimited) as info:
            verification.send_code(phone, "register", ip=ip(0))
        assert info.value.scope == "cooldown"
    assert len(run(block("170012", 4, start=1))[0]) == 4


def test_repeats_of_one_number_are_not_a_burst(clock):
    # An impatient user asks again every minute: one number, not a burst.
    phone = block("170012", 1)[0]
    for _ in range(5):
        verification.send_code(phone, "register", ip=ip(0))
        clock(61)
    assert len(django_smsverify.outbox) == 5
    # It counts as one number: four other numbers of the block still go (five
    # in all), and the next new one is the burst.
    sent, refused = run(block("170012", 6, start=1))
    assert (len(sent), len(refused)) == (4, 2)


def test_a_send_refused_by_another_limit_leaves_its_number_uncounted(settings):
    # Numbers first refused by the per-IP quota must still count when they
    # come back from fresh addresses, or a botnet could launder them.
    settings.SMSVERIFY = {"SEND_LIMITS": {"IP_PER_HOUR": 1}}
    verification.send_code("+8613800138000", "register", ip="192.0.2.1")
    numbers = block("170012", 20)
    for phone in numbers:
        with pytest.raises(RateLimited):
            verification.send_code(phone, "register", ip="192.0.2.1")
    assert len(run(numbers)[0]) == 5


def test_failed_sends_do_not_count(settings):
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    for phone in block("170012", 15):
        with pytest.raises(SmsSendError):
            verification.send_code(phone, "register", ip=ip(0))
    settings.SMS_BACKEND = "django_smsverify.backends.locmem.SmsBackend"
    assert len(run(block("170012", 5, start=20))[0]) == 5


def test_regions_other_than_the_default_are_capped_per_day(refusals, clock, settings):
    settings.SMSVERIFY = {
        "ALLOWED_REGIONS": "__all__",
        "PUMPING_GUARD": {"REGION_DAILY_CAPS": {"GB": 3}},
    }
    gb = [f"+4474{i:02d}{i:06d}" for i in range(5)]
    sent, refused = run(gb)
    assert (len(sent), len(refused)) == (3, 2)
    assert refusals[0]["rule"] == "region_cap"
    assert 0 < refused[0].retry_after <= 86_400
    # A region without a cap of its own is not capped ("*" not given).
    assert len(run([f"+1415555{i:04d}" for i in range(5)])[0]) == 5
    clock(refused[0].retry_after + 1)  # the next UTC day
    assert len(run(gb[3:])[0]) == 2


def test_default_caps_spare_the_default_region(settings):
    from django_smsverify.conf import app_settings

    config = app_settings.PUMPING_GUARD
    assert config.region_cap("CN", "CN") == 0
    assert config.region_cap("GB", "CN") == 1000
    # Regions the site named one by one are regions it chose.
    assert config.region_cap("GB", "CN", all_allowed=False) == 0
    settings.SMSVERIFY = {"PUMPING_GUARD": {"REGION_DAILY_CAPS": {"*": 50, "CN": None}}}
    config = app_settings.PUMPING_GUARD
    assert (config.region_cap("CN", "CN"), config.region_cap("GB", "CN")) == (0, 50)


def verify_all(numbers):
    for phone in numbers:
        code = last_code(phone)
        verification.check_code(phone, code, "register")


def test_a_prefix_that_never_verifies_is_refused_until_it_recovers(refusals, clock, settings):
    # A slow drip, under the burst limit: 4 sends every 10 minutes.
    settings.SMSVERIFY = {"PUMPING_GUARD": {"PREFIX_BURST": None}}
    numbers = iter(block("170012", 100))
    sent = []
    for _ in range(4):
        sent.append(len(run([next(numbers) for _ in range(4)])[0]))
        clock(600)
    # After three rounds, 12 unverified sends older than the grace period:
    # conversion 0 < 0.2 with at least PREFIX_MIN_SENDS (10).
    assert sent == [4, 4, 4, 0]
    assert refusals and {r["rule"] for r in refusals} == {"prefix_conversion"}
    assert refusals[0]["retry_after"] == 300  # a bucket of the window
    assert run([next(numbers)])[0] == []
    clock(3600)  # the window has moved past them
    assert len(run([next(numbers)])[0]) == 1


def test_a_prefix_whose_users_verify_is_never_refused(clock, settings):
    settings.SMSVERIFY = {"PUMPING_GUARD": {"PREFIX_BURST": None}}
    numbers = iter(block("138001", 200))
    for _ in range(12):
        batch = [next(numbers) for _ in range(5)]
        assert run(batch)[0] == batch
        verify_all(batch[:2])  # 40 %: above the 20 % floor
        clock(300)


def test_a_region_with_low_conversion_is_refused(refusals, clock, settings):
    settings.SMSVERIFY = {
        "ALLOWED_REGIONS": "__all__",
        "PUMPING_GUARD": {"PREFIX_BURST": None, "PREFIX_MIN_SENDS": None, "REGION_MIN_SENDS": 20},
    }
    # Numbers across many Belgian blocks, none verified.
    be = iter(f"+32470{i:03d}{i:03d}" for i in range(300))
    for _ in range(10):
        run([next(be) for _ in range(3)])
        clock(300)
    assert refusals and refusals[-1]["rule"] == "region_conversion"
    assert refusals[-1]["region"] == "BE"
    # Chinese numbers are another region.
    assert len(run(block("138001", 3))[0]) == 3


def test_the_guard_can_be_turned_off(settings):
    settings.SMSVERIFY = {"PUMPING_GUARD": False}
    assert len(run(block("170012", 40))[0]) == 40


def test_test_numbers_are_not_guarded(settings):
    numbers = block("170012", 15)
    settings.SMSVERIFY = {"TEST_NUMBERS": dict.fromkeys(numbers, "123456")}
    assert len(run(numbers)[0]) == 15


@pytest.mark.parametrize("store_cache", ["django-redis", "redis"], indirect=True)
def test_concurrent_sends_to_one_block_stop_at_the_burst_limit(store_cache, settings):
    # On Redis, across connections: the generic store is correct per process only.
    # Records off: rows written by other threads would outlive the test's transaction.
    settings.SMSVERIFY = {"DELIVERY_RECORDS": False}
    numbers = block("170012", 50)
    results = []
    barrier = threading.Barrier(len(numbers))

    def send(i, phone):
        barrier.wait()
        try:
            verification.send_code(phone, "register", ip=ip(i))
            results.append("sent")
        except RateLimited:
            results.append("refused")

    threads = [threading.Thread(target=send, args=(i, p)) for i, p in enumerate(numbers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("sent") == 5
    assert len(django_smsverify.outbox) == 5


def test_the_page_answers_429_with_retry_after_and_no_rule(settings):
    settings.SMSVERIFY = {"CAPTCHA": False}
    client = Client()
    for i, phone in enumerate(block("170012", 11)):
        response = client.post(
            "/accounts/phone/send-code/",
            {"phone": phone, "purpose": "register"},
            REMOTE_ADDR=ip(i),
        )
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    body = response.content.decode()
    assert "guard" not in body and "prefix" not in body
    assert "Too many requests" in body


def test_counters_follow_the_traffic(settings):
    settings.SMSVERIFY = {"ALLOWED_REGIONS": ["CN", "GB"]}
    phone, other = "+8613800138000", "+447400123456"
    verification.send_code(phone, "register", ip=ip(0))
    verification.check_code(phone, last_code(phone), "register")
    verification.send_code(other, "login", ip=ip(1))
    with pytest.raises(RateLimited):
        verification.send_code(other, "login", ip=ip(1))
    settings.SMS_BACKEND = "tests.failing_backend.SmsBackend"
    with pytest.raises(SmsSendError):
        verification.send_code("+8613900139000", "register", ip=ip(2))
    (today,) = stats.days(1)
    assert today.total("sent") == 2
    assert today.total("sent", region="CN") == 1
    assert today.total("verified", purpose="register") == 1
    assert today.conversion(region="CN") == 1.0
    assert today.conversion(region="GB") == 0.0
    assert today.total("refused", detail="cooldown") == 1
    failed = [c for c in today.counts if c.event == "failed"]
    assert len(failed) == 1 and failed[0].region == "CN" and failed[0].count == 1
    assert failed[0].detail.startswith("failing:")
    assert stats.hours(1)[0].counts == today.counts


def test_counters_can_be_turned_off(settings):
    settings.SMSVERIFY = {"STATS": False}
    verification.send_code("+8613800138000", "register", ip=ip(0))
    assert stats.days(1)[0].counts == []


def test_record_seeds_past_days():
    import datetime as dt

    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    stats.record("sent", purpose="login", region="CN", count=7, when=when)
    week = stats.days(7)
    assert [p.total("sent") for p in week] == [0, 0, 0, 7, 0, 0, 0]
    with pytest.raises(ValueError, match="unknown event 'bogus'"):
        stats.record("bogus")


def test_a_store_outage_is_503_not_a_send(settings):
    settings.CACHES = {"default": {"BACKEND": "tests.broken_cache.BrokenCache"}}
    from django_smsverify.exceptions import ServiceUnavailable

    with pytest.raises(ServiceUnavailable):
        verification.send_code("+8613800138000", "register", ip=ip(0))
    assert django_smsverify.outbox == []
