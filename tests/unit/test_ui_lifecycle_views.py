"""The admin page's read-only policy and usage view models (pure)."""
from __future__ import annotations

from chalicelib.storage.metering_ports import UsageRow
from chalicelib.ui.lifecycle_views import policy_row, usage_view


def test_policy_in_words():
    row = policy_row("ns/app", {"immutableTags": ["v*", "release-?"], "defaultExpiry": "2w", "retention": [
        {"rule": "keep-last", "tags": "nightly-*", "count": 7},
        {"rule": "expire-tags", "tags": "pr-*", "days": 14},
        {"rule": "expire-untagged", "days": 0.5}, "junk"]})
    assert (row.immutable, row.default_expiry) == (["v*", "release-?"], "2w")
    assert row.rules == ["keep the last 7 tags matching nightly-*", "expire tags matching pr-* after 14 days",
                         "delete untagged manifests after 0.5 days", "?"]
    empty = policy_row("ns/x", None)
    assert (empty.immutable, empty.default_expiry, empty.rules) == ([], "-", [])


def test_usage_newest_first_with_totals():
    rows = [UsageRow("ns", "2026-11-30", {"requests": 3, "pulls": 1, "pushes": 0, "bytes_served": 2048,
                                          "bytes_uploaded": 0}),
            UsageRow("ns", "2026-12-01", {"requests": 5, "pulls": 2, "pushes": 1, "bytes_served": 0,
                                          "bytes_uploaded": 10})]
    v = usage_view(rows)
    assert [d[0] for d in v.days] == ["2026-12-01", "2026-11-30"]
    assert v.days[1][4] == "2.0 KiB"
    assert v.totals == (8, 3, 1, "2.0 KiB", "10 B")
