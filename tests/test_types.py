"""mypy (configured in pyproject.toml) against a checked-in baseline of errors per file.

``tests/mypy_baseline.json`` maps a file to the number of mypy errors it may still have. The baseline only
shrinks: more errors than the baseline, or errors in a file it does not list, fail; so do fewer errors than
the baseline, with a message to lower the number, so a fix is locked in by the commit that makes it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "mypy_baseline.json"
# "path.py:12: error: ..." or "path.py:12:5: error: ..." (notes and the summary line are not errors)
_ERROR = re.compile(r"^(?P<path>[^:\s][^:]*\.pyi?):\d+(?::\d+)?: error: ", re.MULTILINE)


def count_errors(mypy_output: str) -> dict[str, int]:
    """Errors per file in mypy's text output, paths with forward slashes."""
    return dict(Counter(m.group("path").replace("\\", "/") for m in _ERROR.finditer(mypy_output)))


def compare(baseline: dict[str, int], counts: dict[str, int]) -> list[str]:
    """One line per file whose error count differs from its baseline (empty when they match)."""
    problems = []
    for path in sorted(set(baseline) | set(counts)):
        allowed, found = baseline.get(path, 0), counts.get(path, 0)
        if found > allowed:
            problems.append(f"{path}: {found} mypy errors, baseline allows {allowed}: fix the new ones")
        elif found < allowed:
            problems.append(
                f"{path}: {found} mypy errors, fewer than the baseline's {allowed}: "
                f"lower its number in tests/mypy_baseline.json to {found}"
                + (" (or remove the entry)" if found == 0 else "")
            )
    return problems


def test_compare_flags_new_and_more_errors() -> None:
    baseline = {"a.py": 2, "b.py": 1}
    assert compare(baseline, {"a.py": 2, "b.py": 1}) == []
    more = compare(baseline, {"a.py": 3, "b.py": 1})
    assert len(more) == 1 and more[0].startswith("a.py: 3 mypy errors, baseline allows 2")
    new = compare(baseline, {"a.py": 2, "b.py": 1, "c.py": 1})
    assert len(new) == 1 and new[0].startswith("c.py: 1 mypy errors, baseline allows 0")


def test_compare_asks_to_lower_the_baseline() -> None:
    fewer = compare({"a.py": 2, "b.py": 1}, {"a.py": 1})
    assert len(fewer) == 2
    assert "lower its number in tests/mypy_baseline.json to 1" in fewer[0]
    assert fewer[1].startswith("b.py: 0 mypy errors") and "remove the entry" in fewer[1]


def test_count_errors_reads_mypy_output() -> None:
    out = (
        "pkg/a.py:10: error: Bad thing  [arg-type]\n"
        "pkg/a.py:10: note: Possible overload variants:\n"
        "pkg/a.py:12:4: error: Another  [index]\n"
        "pkg\\b.py:3: error: Windows path  [misc]\n"
        "Found 3 errors in 2 files (checked 5 source files)\n"
    )
    assert count_errors(out) == {"pkg/a.py": 2, "pkg/b.py": 1}
    assert count_errors("Success: no issues found in 5 source files\n") == {}


def test_mypy_errors_match_the_baseline() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mypy"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    # 0: clean, 1: type errors; anything else is mypy itself failing (bad config, crash)
    assert out.returncode in (0, 1), (out.stdout + out.stderr)[-3000:]
    counts = count_errors(out.stdout)
    assert (out.returncode == 1) == bool(counts), out.stdout[-3000:]
    baseline: dict[str, int] = json.loads(BASELINE.read_text(encoding="utf-8"))
    problems = compare(baseline, counts)
    assert not problems, "\n".join(problems) + "\n\n" + out.stdout[-3000:]
