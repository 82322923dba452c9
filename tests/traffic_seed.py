"""Traffic figures seeded into the counters, for the admin page, the command
and the Prometheus tests, and a reader of the tables the page shows."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from django_smsverify import stats

#: The clock of these tests: a Wednesday noon, UTC.
NOW = dt.datetime(2025, 5, 7, 12, 0, tzinfo=dt.timezone.utc)

TENCENT_LIMIT = "tencent:LimitExceeded.PhoneNumberDailyLimit"

#: (UTC day, event, purpose, region, detail, count), counted at 10:00 that day.
SEED = [
    ("2025-05-07", "sent", "login", "CN", "", 40),
    ("2025-05-07", "verified", "login", "CN", "", 30),
    ("2025-05-07", "sent", "register", "CN", "", 10),
    ("2025-05-07", "verified", "register", "CN", "", 6),
    ("2025-05-07", "notice", "register", "CN", "", 2),
    ("2025-05-07", "sent", "login", "US", "", 5),
    ("2025-05-07", "verified", "login", "US", "", 1),
    ("2025-05-07", "refused", "login", "CN", "cooldown", 7),
    ("2025-05-07", "failed", "register", "CN", TENCENT_LIMIT, 3),
    ("2025-05-06", "sent", "login", "CN", "", 30),
    ("2025-05-06", "verified", "login", "CN", "", 24),
    ("2025-05-06", "refused", "register", "US", "guard:prefix_burst", 4),
    ("2025-05-05", "sent", "login", "CN", "", 20),
    ("2025-05-05", "verified", "login", "CN", "", 10),
    ("2025-05-05", "failed", "login", "CN", "ronglian:160038", 1),
    ("2025-05-03", "sent", "reset_password", "CN", "", 12),
    ("2025-05-03", "verified", "reset_password", "CN", "", 12),
    # Older than 7 days, within 30.
    ("2025-04-20", "sent", "login", "CN", "", 8),
    ("2025-04-20", "verified", "login", "CN", "", 2),
]

#: The days with codes sent, within the last 30 and the last 7 days.
SENT_DAYS_30 = ["2025-04-20", "2025-05-03", "2025-05-05", "2025-05-06", "2025-05-07"]
SENT_DAYS_7 = SENT_DAYS_30[1:]


def shifted(day: str, today: dt.date | None = None) -> str:
    """``day`` of :data:`SEED`, moved so that :data:`NOW`'s day becomes ``today``."""
    if today is None:
        return day
    return (dt.date.fromisoformat(day) + (today - NOW.date())).isoformat()


def seed(today: dt.date | None = None) -> None:
    """Count every row of :data:`SEED`, its days moved to end on ``today``
    (default: :data:`NOW`'s day, for tests that pin the clock)."""
    for day, event, purpose, region, detail, count in SEED:
        when = dt.datetime.fromisoformat(f"{shifted(day, today)}T10:00:00+00:00")
        stats.record(event, purpose=purpose, region=region, detail=detail, count=count, when=when)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self._rows, self._caption = [], ""
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption or f"table {len(self.tables)}"] = self._rows
            self._rows = None

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self._caption = (self._caption or "") + data.strip()
        elif self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Every ``<table>`` of ``html`` by caption: rows of cell texts, headings first."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def rows_by_key(table: list[list[str]]) -> dict[str, list[str]]:
    """A table's rows by their first cell, the headings' row left out."""
    return {row[0]: row[1:] for row in table[1:]}
