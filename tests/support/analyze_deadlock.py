#!/usr/bin/env python3
"""Reads bbx analyze --json of the deadlock test (tests/test_analyze.cpp) with
python3's json module: one warning, a deadlock, whose cycle's waits are at
the two given lines; two tasks, one thread.

    python3 tests/support/analyze_deadlock.py ANALYSIS.json LINE_A LINE_B
"""
import json
import sys

d = json.load(open(sys.argv[1]))
w = d["warnings"]
assert len(w) == 1 and w[0]["kind"] == "deadlock", w
assert [c["at"]["line"] for c in w[0]["cycle"]] == [int(sys.argv[2]), int(sys.argv[3])]
assert len(d["tasks"]) == 2 and len(d["threads"]) == 1
