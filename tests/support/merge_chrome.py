#!/usr/bin/env python3
"""What tests/test_merge.cpp reads of a merged Chrome JSON trace.

    python3 tests/support/merge_chrome.py TRACE.json
"""
import decimal, json, sys
doc = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"), parse_float=decimal.Decimal)
stacks, low = {}, None
for e in doc["traceEvents"]:
    ph = e["ph"]
    if ph == "M":
        continue
    ns = int(e["ts"] * 1000)
    low = ns if low is None else min(low, ns)
    key = (e["pid"], e["tid"])
    if ph == "B":
        stacks.setdefault(key, []).append((e["name"], ns, e.get("args", {}).get("seq", -1)))
    elif ph == "E":
        name, begin, seq = stacks[key].pop()
        print("S %d %d %s %d %d %d" % (e["pid"], e["tid"], name, begin, ns, seq))
    elif ph in ("s", "f"):
        if e["name"] != "rpc" or e["cat"] != "rpc" or (ph == "f" and e.get("bp") != "e"):
            sys.exit("flow event %r" % e)
        print("F %s %d %d %d %d" % (ph, e["id"], e["pid"], e["tid"], ns))
for k, st in stacks.items():
    if st:
        sys.exit("open slices on %r" % (k,))
print("OK %d" % low)
