"""The README's "Performance" section is what bench/readme.py makes of bench/results.json."""

from __future__ import annotations

import json

from bench import readme


def test_the_performance_section_matches_bench_results() -> None:
    current = readme.README.read_text(encoding="utf-8")
    results = json.loads(readme.RESULTS.read_text(encoding="utf-8"))
    assert readme.render(current, results) == current, (
        "README.md is out of date with bench/results.json: run .venv/bin/python bench/readme.py")


def test_every_benchmark_and_target_is_in_the_readme() -> None:
    current = readme.README.read_text(encoding="utf-8")
    results = json.loads(readme.RESULTS.read_text(encoding="utf-8"))
    assert set(results["benchmarks"]) == set(readme.SECTIONS)
    section = current.split(readme.BEGIN)[1].split(readme.END)[0]
    assert section.count("target ") >= len(
        [t for t in results["targets"] if t.startswith(("webhook", "slack", "time_to_url"))])
