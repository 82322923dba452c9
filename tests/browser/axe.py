"""axe-core in the browser tests: inject it into a page and return what it finds.

axe-core comes from npm, pinned, installed outside the repository by .ci/run
(``npm install --prefix ~/.cache/smsverify-axe axe-core@4.10.3``). The tests
find ``axe.min.js`` through ``SMSVERIFY_AXE`` or at that default place; when it
is missing they fail (an accessibility check that quietly does not run is
worse than none).

Pages with JavaScript off: a ``<script>`` tag never runs there, and the page
runs no timers, but Playwright's ``evaluate`` still runs in the page. So axe's
source is evaluated directly and, with JavaScript off, ``setTimeout`` is first
replaced by a microtask for the zero-delay calls axe uses to yield (its longer
timeouts only guard against frames that never answer; these pages have none).
axe then audits the very DOM a user without JavaScript gets.
"""

from __future__ import annotations

import os
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

DEFAULT_AXE = Path.home() / ".cache" / "smsverify-axe" / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("critical", "serious", "moderate", "minor")

#: "AXE <page>:<state> <lang> <js> <width> critical=N ..." lines of this run,
#: printed at the end by tests/browser/conftest.py.
AXE_RESULTS: list[str] = []

_NO_TIMERS_SHIM = """
() => {
  if (window.__smsverifyAxeShim) return;
  window.__smsverifyAxeShim = true;
  window.setTimeout = (callback, delay) => {
    if (!delay || delay <= 1) Promise.resolve().then(callback);
    return 0;
  };
  window.clearTimeout = () => {};
}
"""


@cache
def axe_source() -> str:
    """The text of axe.min.js; fails the test with the way to install it."""
    path = Path(os.environ.get("SMSVERIFY_AXE") or DEFAULT_AXE)
    if not path.is_file():
        pytest.fail(
            f"axe-core not found at {path}. Install it with "
            f"`npm install --prefix ~/.cache/smsverify-axe axe-core@4.10.3` (as .ci/run does) "
            f"or point SMSVERIFY_AXE at axe.min.js."
        )
    return path.read_text(encoding="utf-8")


def run_axe(page: Any, *, javascript: bool) -> list[dict[str, Any]]:
    """Run axe-core on ``page`` as it is now; its violations (id, impact, help, nodes).

    WCAG 2.0/2.1/2.2 A and AA rules plus axe's best practices.
    """
    if not javascript:
        page.evaluate(_NO_TIMERS_SHIM)
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    # "preload" fetches the style sheets for one rule (css-orientation-lock);
    # with JavaScript off that fetch never answers.
    return page.evaluate(
        """async (preload) => {
            const result = await axe.run(document, {preload, resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary})),
            }));
        }""",
        javascript,
    )


def impact_counts(violations: list[dict[str, Any]]) -> Counter[str]:
    """How many elements fail, per impact (one violation may cover several)."""
    counts: Counter[str] = Counter(dict.fromkeys(IMPACTS, 0))
    for violation in violations:
        counts[violation["impact"] or "minor"] += len(violation["nodes"])
    return counts


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations as lines a person can act on."""
    lines = []
    for violation in violations:
        for node in violation["nodes"]:
            lines.append(
                f"{violation['impact']}: {violation['id']} ({violation['help']}) at "
                f"{' '.join(map(str, node['target']))}: {node['summary']}"
            )
    return "\n".join(lines)
