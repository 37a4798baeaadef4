#!/usr/bin/env python3
"""What tests/test_merge.cpp reads of merged OTLP/JSON Lines.

    python3 tests/support/merge_otlp.py TRACE.jsonl
"""
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    doc = json.loads(line)
    for rs in doc["resourceSpans"]:
        attrs = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
        pid = int(attrs["process.pid"]["intValue"])
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                seq = -1
                for a in sp.get("attributes", []):
                    if a["key"] == "seq":
                        seq = int(a["value"]["intValue"])
                print("S %d %d %s %s %s %s %d %s" % (pid, sp["kind"], sp["spanId"], sp.get("parentSpanId", "-"),
                      sp["startTimeUnixNano"], sp["endTimeUnixNano"], seq, sp["name"]))
print("OK")
