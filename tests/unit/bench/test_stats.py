"""The statistics and the JSON shape of the bench scripts (pure; no test bed)."""

from __future__ import annotations

import pytest

from bench import common, readme, run


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert common.percentile(values, 0.5) == 50.0
    assert common.percentile(values, 0.99) == 99.0
    assert common.percentile(values, 1.0) == 100.0
    assert common.percentile([7.0], 0.9) == 7.0
    with pytest.raises(ValueError):
        common.percentile([], 0.5)


def test_summary() -> None:
    assert common.summary([3.0, 1.0, 2.0, 10.0]) == {
        "count": 4, "median_ms": 2.5, "p90_ms": 10.0, "max_ms": 10.0, "min_ms": 1.0}


def test_overhead_pairs_rounds() -> None:
    figures = common.overhead([110.0, 120.0, 600.0], [100.0, 100.0, 100.0])
    assert figures == {"ratio": 1.2, "median_overhead_ms": 20.0, "max_overhead_ms": 500.0}
    with pytest.raises(ValueError):
        common.overhead([1.0], [1.0, 2.0])


def test_targets_are_flattened_with_value_target_and_verdict() -> None:
    results = {
        "webhooks": {"webhooks": {"p99_ms": 12.0}, "target_p99_ms": 50.0, "target_met": True},
        "slack": {"slack_commands": {"p99_ms": 400.0}, "target_p99_ms": 300.0,
                  "target_met": False},
        "time_to_url": {"targets": {"instant_median_overhead_ms": {
            "value": 120.0, "target": "<= 150", "met": True}}},
    }
    assert run.targets(results) == {
        "webhook_ack_p99_ms": {"value": 12.0, "target": "<= 50", "met": True},
        "slack_ack_p99_ms": {"value": 400.0, "target": "<= 300", "met": False},
        "time_to_url_instant_median_overhead_ms": {"value": 120.0, "target": "<= 150",
                                                   "met": True},
    }


def test_readme_block_replaces_only_between_the_markers() -> None:
    results = {"generated_by": "make bench", "targets": {
        "webhook_ack_p99_ms": {"value": 12.0, "target": "<= 50", "met": True}},
        "machine": {"date": "2026-12-01T00:00:00+00:00", "cores": 2, "cpu_model": "CPU",
                    "memory": "1 MiB", "python": "3.11", "kubernetes": "v1", "helm": "v4",
                    "redis": "7"},
        "benchmarks": {"webhooks": {
            "events": 100, "webhooks": {"p50_ms": 2.0, "p99_ms": 12.0, "per_second": 900.0},
            "baseline_healthz": {"p99_ms": 3.0}}}}
    text = f"intro\n{readme.BEGIN}\nold\n{readme.END}\noutro\n"
    out = readme.render(text, results)
    assert out.startswith("intro\n") and out.endswith("\noutro\n") and "old" not in out
    assert "p99 12 ms" in out and "target <= 50: **met**" in out
    with pytest.raises(ValueError):
        readme.render("no markers", results)
