#!/usr/bin/env python3
"""The Chrome JSON checker of tests/test_convert.cpp: validates the file (prefix, UTF-8,
strict JSON, B/E balance per thread, the unfinished mark at the thread's last
timestamp) and prints what it read.

    python3 tests/support/chrome_convert.py TRACE.json PID
"""
import decimal, sys
from chrome_json import fail, load, out
path, pid = sys.argv[1], int(sys.argv[2])
doc = load(path)
if list(doc.keys()) != ["traceEvents", "displayTimeUnit", "otherData"] or doc["displayTimeUnit"] != "ns":
    fail("top-level keys %r" % list(doc.keys()))
# What the capture lost, one entry per capture: a summary and every count.
losses = doc["otherData"].get("bbx_losses")
if not isinstance(losses, list) or len(losses) != 1 or not isinstance(losses[0].get("summary"), str):
    fail("otherData.bbx_losses %r" % (losses,))
for k in ("threads_without_ring", "events_without_ring", "sites_without_metadata", "events_overwritten",
          "events_dropped", "torn_slots", "malformed", "skipped"):
    if not isinstance(losses[0].get(k), int) or losses[0][k] < 0:
        fail("otherData.bbx_losses[0].%s is %r" % (k, losses[0].get(k)))
def value(v):
    if isinstance(v, bool):
        return "b:" + ("true" if v else "false")
    if isinstance(v, int):
        return "i:%d" % v
    if isinstance(v, decimal.Decimal):
        return "f:" + repr(float(v))
    if isinstance(v, str):
        return "s:" + v.encode("utf-8").hex()
    fail("argument value %r" % (v,))
def args(e):
    a = e.get("args", {})
    if not isinstance(a, dict):
        fail("args is not an object: %r" % (e,))
    return "".join(" %s=%s" % (k, value(v)) for k, v in a.items())
stacks, last = {}, {}
for e in doc["traceEvents"]:
    if e.get("pid") != pid:
        fail("pid %r" % (e,))
    ph = e.get("ph")
    tid = e.get("tid")
    if not isinstance(tid, int):
        fail("tid %r" % (e,))
    if ph == "M":
        if e["name"] == "thread_name":
            out.write("N %d %s\n" % (tid, e["args"]["name"]))
        elif e["name"] == "process_name":
            out.write("P %s\n" % e["args"]["name"])
        else:
            fail("metadata %r" % (e,))
        continue
    ts = e.get("ts")
    if not isinstance(ts, decimal.Decimal) or ts.as_tuple().exponent != -3:
        fail("ts is not microseconds with three decimals: %r" % (e,))
    if ts < last.get(tid, ts):
        fail("ts goes back on thread %d: %r" % (tid, e))
    st = stacks.setdefault(tid, [])
    label = "%s/%s" % (e.get("cat", ""), e.get("name", ""))
    if ph == "B":
        st.append(label)
        line = "B " + label + args(e)
    elif ph == "E":
        if not st:
            fail("E without B on thread %d: %r" % (tid, e))
        top = st.pop()
        if "name" in e and label != top:
            fail("E %s closes %s" % (label, top))
        a = e.get("args", {})
        line = "E " + top
        if a.get("unfinished") is True:
            if ts != last.get(tid):
                fail("unfinished E not at the thread's last timestamp: %r" % (e,))
            line += " unfinished"
        elif a:
            fail("E with args %r" % (e,))
    elif ph == "i":
        if e.get("s") != "t":
            fail("instant scope %r" % (e,))
        line = "I " + label + args(e)
    elif ph == "C":
        a = e.get("args")
        if not isinstance(a, dict) or list(a.keys()) != ["value"]:
            fail("counter args %r" % (e,))
        line = "C %s %s" % (e.get("name"), value(a["value"]))
    else:
        fail("phase %r" % (e,))
    last[tid] = ts
    out.write("L %d %d %s\n" % (tid, int(ts * 1000), line))
for tid, st in stacks.items():
    if st:
        fail("thread %d ends with open spans %r" % (tid, st))
out.write("OK\n")
