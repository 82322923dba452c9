"""System checks of the pumping guard and the traffic counters (E701-E703)."""

from __future__ import annotations

import pytest

from django_smsverify.checks import check_pumping_guard


def ids(settings, value):
    settings.SMSVERIFY = value
    return [(e.id, e.msg) for e in check_pumping_guard()]


def test_defaults_and_switches_pass(settings):
    assert ids(settings, {}) == []
    assert ids(settings, {"PUMPING_GUARD": False, "STATS": False}) == []
    assert ids(settings, {"PUMPING_GUARD": {"REGION_DAILY_CAPS": {"*": 100, "CN": None}}}) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ENABLED", "yes"),
        ("PREFIX_DIGITS", 0),
        ("PREFIX_DIGITS", 13),
        ("PREFIX_BURST", 0),
        ("PREFIX_BURST", "10"),
        ("PREFIX_WINDOW", 5),
        ("PREFIX_COOL_OFF", 0),
        ("CONVERSION_WINDOW", 30),
        ("CONVERSION_GRACE", 3600),
        ("CONVERSION_GRACE", -1),
        ("PREFIX_MIN_SENDS", -5),
        ("PREFIX_MIN_CONVERSION", 1.5),
        ("REGION_MIN_CONVERSION", True),
        ("REGION_DAILY_CAPS", {"GB": -1}),
        ("REGION_DAILY_CAPS", [("GB", 3)]),
    ],
)
def test_e701_bad_option(settings, option, value):
    found = ids(settings, {"PUMPING_GUARD": {option: value}})
    assert [i for i, _m in found] == ["smsverify.E701"]
    assert option in found[0][1]


def test_e701_not_a_dict(settings):
    assert [i for i, _m in ids(settings, {"PUMPING_GUARD": "on"})] == ["smsverify.E701"]


def test_e702_unknown_option(settings):
    found = ids(settings, {"PUMPING_GUARD": {"PREFIX_BURTS": 5}})
    assert found == [
        ("smsverify.E702", "Unknown key 'PREFIX_BURTS' in SMSVERIFY['PUMPING_GUARD'].")
    ]


def test_e703_stats_not_a_bool(settings):
    assert [i for i, _m in ids(settings, {"STATS": "yes"})] == ["smsverify.E703"]
