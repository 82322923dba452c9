"""``manage.py smsverify_stats``: the traffic counters as tables in a terminal."""

from __future__ import annotations

from io import StringIO

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import CommandError, call_command

from django_smsverify import stats
from django_smsverify.management.commands.smsverify_stats import format_table
from django_smsverify.traffic import summarise
from tests.conftest import DOWN_CACHE_CONFIGS
from tests.traffic_seed import NOW, TENCENT_LIMIT, seed

HEADINGS = ["Codes", "sent", "Notices", "Codes", "verified", "Conversion", "Refused", "Failed"]


@pytest.fixture(autouse=True)
def clock():
    caches["default"].clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller
    caches["default"].clear()


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("smsverify_stats", *args, stdout=out, stderr=err, no_color=True)
    return out.getvalue(), err.getvalue()


def sections(output: str) -> dict[str, dict[str, list[str]]]:
    """Each table of the output by the line above it: rows by first cell."""
    found: dict[str, dict[str, list[str]]] = {}
    for block in output.strip().split("\n\n"):
        title, *lines = block.splitlines()
        rows: dict[str, list[str]] = {}
        for line in lines[1:]:  # the headings' line left out
            # Keys may hold one space ("2025-05-07 10:00"); columns are two apart.
            key, _sep, rest = line.partition("  ")
            rows[key] = rest.split()
        found[title] = rows
    return found


def test_the_last_7_days_by_default(store_cache):
    seed()
    out, err = run()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "SMS traffic, the last 7 UTC days (2025-05-01 to 2025-05-07)"
    assert lines[1].split() == ["Day", "(UTC)", *HEADINGS]
    found = sections(out)
    days = found["SMS traffic, the last 7 UTC days (2025-05-01 to 2025-05-07)"]
    assert list(days) == [f"2025-05-0{d}" for d in range(1, 8)] + ["Total"]
    assert days["2025-05-07"] == ["55", "2", "37", "67.3%", "7", "3"]
    assert days["2025-05-02"] == ["0", "0", "0", "–", "0", "0"]
    assert days["Total"] == ["117", "2", "83", "70.9%", "11", "4"]
    assert found["By purpose"] == {
        "register": ["10", "2", "6", "60.0%", "4", "3"],
        "login": ["95", "0", "65", "68.4%", "7", "1"],
        "reset_password": ["12", "0", "12", "100.0%", "0", "0"],
    }
    assert found["By region"] == {
        "CN": ["112", "2", "82", "73.2%", "7", "4"],
        "US": ["5", "0", "1", "20.0%", "4", "0"],
    }
    assert found["Sends refused, by limit"] == {"cooldown": ["7"], "guard:prefix_burst": ["4"]}
    assert found["Failed sends, by provider and error code"] == {
        TENCENT_LIMIT: ["3"],
        "ronglian:160038": ["1"],
    }


def test_columns_line_up():
    seed()
    out, _err = run("--days", "30")
    table = out.split("\n\n")[0].splitlines()[1:]
    # Figures are right-aligned: every line of the table ends at the same column.
    assert len({len(line) for line in table}) == 1
    assert len(table) == 1 + 30 + 1


def test_filters_and_the_hourly_view():
    seed()
    stats.record("sent", purpose="login", region="CN", count=4)  # at noon
    out, _err = run("--hours", "3", "--region", "cn", "--purpose", "login")
    found = sections(out)
    title = (
        "SMS traffic, the last 3 UTC hours (2025-05-07 10:00 to 2025-05-07 12:00) · "
        "purpose login, region CN"
    )
    assert found[title] == {
        "2025-05-07 10:00": ["40", "0", "30", "75.0%", "7", "0"],
        "2025-05-07 11:00": ["0", "0", "0", "–", "0", "0"],
        "2025-05-07 12:00": ["4", "0", "0", "0.0%", "0", "0"],
        "Total": ["44", "0", "30", "68.2%", "7", "0"],
    }
    assert out.splitlines()[1].startswith("Hour (UTC)")
    assert list(found["By region"]) == ["CN"]
    assert list(found["By purpose"]) == ["login"]
    assert "Failed sends, by provider and error code\n(none)" in out


def test_nothing_counted():
    out, _err = run("--days", "2")
    assert "No SMS traffic was counted in this period." in out
    assert sections(out)["By purpose"] == {}
    assert "By purpose\n(none)" in out


def test_counting_off_is_said_on_stderr(settings):
    settings.SMSVERIFY = {"STATS": False}
    _out, err = run()
    assert "Counting is off" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be from 1 to 31"),
        (["--days", "32"], "--days must be from 1 to 31"),
        (["--hours", "50"], "--hours must be from 1 to 49"),
        (["--region", "China"], "--region must be a two-letter region code"),
    ],
)
def test_bad_options(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_days_and_hours_together_are_refused():
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("--days", "2", "--hours", "3")


@pytest.mark.parametrize("cache", ["broken", "redis"])
def test_a_store_that_does_not_answer(settings, cache):
    config = (
        {"BACKEND": "tests.broken_cache.BrokenCache"}
        if cache == "broken"
        else DOWN_CACHE_CONFIGS["redis"]
    )
    settings.CACHES = {**settings.CACHES, "stats": config}
    settings.SMSVERIFY = {"CACHE": "stats"}
    with pytest.raises(CommandError, match="is not answering"):
        run()


def test_wide_characters_take_two_columns():
    lines = format_table([["区域", "发送"], ["CN", "12"], ["Total", "3"]])
    assert lines == ["区域   发送", "CN       12", "Total     3"]


def test_summarise_keeps_the_choices_whatever_the_filters():
    seed()
    summary = summarise(stats.days(30), purpose="reset_password")
    assert summary.total.sent == 12
    assert summary.purposes == ["register", "login", "reset_password"]
    assert summary.regions == ["CN", "US"]
    assert [f.key for f in summary.by_region] == ["CN"]
