#!/usr/bin/env python3
"""The Chrome JSON checker of tests/test_convert_tasks.cpp: validates the file (strict
JSON, B/E balance per thread, b/e balance per async id, flow events bound
where both readers look for their slice) and prints what it read.

    python3 tests/support/chrome_tasks.py TRACE.json PID
"""
import sys
from chrome_json import fail, load, out
path, pid = sys.argv[1], int(sys.argv[2])
doc = load(path)
evs = doc["traceEvents"]
max_ts = max(e["ts"] for e in evs if "ts" in e)
def args(e, skip=()):
    a = e.get("args", {})
    return "".join(" %s=%s" % (k, v) for k, v in a.items() if k not in skip)
def task_of_id(e):
    i = e.get("id")
    if not isinstance(i, str) or not i.startswith("0x"):
        fail("async id is not a 0x string: %r" % (e,))
    return int(i, 16)
stacks, astacks, last, anchor = {}, {}, {}, {}
wakes, order = {}, []
for e in evs:
    ph = e["ph"]
    if ph == "M":
        continue
    if e.get("pid") != pid:
        fail("pid %r" % (e,))
    tid, ts = e["tid"], e["ts"]
    if ts < last.get(tid, ts):
        fail("ts goes back on thread %d: %r" % (tid, e))
    name, cat = e.get("name"), e.get("cat", "")
    label = name if cat == "task" else "%s/%s" % (cat, name)
    if ph in "BEi":
        st = stacks.setdefault(tid, [])
        if ph == "B":
            st.append(label)
            out.write("T %d B %s%s\n" % (tid, label, args(e)))
            anchor[tid] = (ph, ts, e.get("args", {}).get("task"), label)
        elif ph == "E":
            if not st:
                fail("E without B on thread %d: %r" % (tid, e))
            top = st.pop()
            if label != top:
                fail("E %s closes %s" % (label, top))
            a = e.get("args", {})
            if a.get("unfinished") is True and ts != last.get(tid):
                fail("unfinished E not at the thread's last timestamp: %r" % (e,))
            out.write("T %d E %s%s%s\n" % (tid, top, args(e, ("unfinished",)), " unfinished" if a.get("unfinished") is True else ""))
            anchor[tid] = None
        else:
            if e.get("s") != "t":
                fail("instant scope %r" % (e,))
            out.write("T %d I %s%s\n" % (tid, label, args(e)))
            anchor[tid] = (ph, ts, e.get("args", {}).get("task"), label)
    elif ph in "sf":
        # v1 flows: the same id, name and cat on both ends. Each binds to the
        # slice enclosing its timestamp on its thread: the wake instant just
        # written (s), the poll just begun (f, with bp "e").
        if name != "wake" or cat != "task":
            fail("flow name/cat %r" % (e,))
        fid = e.get("id")
        if not isinstance(fid, int):
            fail("flow id %r" % (e,))
        a = anchor.get(tid)
        if ph == "s":
            if fid in wakes:
                fail("flow id %d started twice" % fid)
            if not a or a[0] != "i" or a[1] != ts or not a[3].startswith("wake "):
                fail("flow start not right after its wake instant: %r" % (e,))
            wakes[fid] = {"task": a[2], "tid": tid, "ts": ts, "ended": []}
            order.append(fid)
        else:
            if e.get("bp") != "e":
                fail("flow end without bp e: %r" % (e,))
            if fid not in wakes:
                fail("flow %d ends before it starts" % fid)
            if not a or a[0] != "B" or a[1] != ts or not a[3].startswith("poll "):
                fail("flow end not right after its poll begin: %r" % (e,))
            w = wakes[fid]
            if w["task"] != a[2]:
                fail("flow %d: wake of task %r ends at a poll of task %r" % (fid, w["task"], a[2]))
            if w["ts"] > ts:
                fail("flow %d goes back in time" % fid)
            w["ended"].append(tid)
    elif ph in "nbe":
        if cat != "task":
            fail("async event outside cat task: %r" % (e,))
        task = task_of_id(e)
        if ph == "n":
            kind, tname = name.split(" ", 1)
            if not tname.endswith(" #%d" % task):
                fail("async instant %r names another task" % (e,))
            out.write("N %d %s\n" % (task, tname))
            out.write("K %d I %s%s\n" % (task, kind, args(e)))
        elif ph == "b":
            astacks.setdefault(task, []).append(name)
            out.write("K %d B %s%s\n" % (task, name, args(e)))
        else:
            st = astacks.get(task)
            if not st:
                fail("e without b: %r" % (e,))
            top = st.pop()
            if name != top:
                fail("e %s closes %s" % (name, top))
            a = e.get("args", {})
            if a.get("unfinished") is True and ts != max_ts:
                fail("unfinished e not at the capture's last timestamp: %r" % (e,))
            out.write("K %d E %s%s%s\n" % (task, top, args(e, ("unfinished",)), " unfinished" if a.get("unfinished") is True else ""))
    else:
        if ph != "C":
            fail("phase %r" % (e,))
    last[tid] = ts
for tid, st in stacks.items():
    if st:
        fail("thread %d ends with open slices %r" % (tid, st))
for task, st in astacks.items():
    if st:
        fail("task %d ends with open async slices %r" % (task, st))
for fid in order:
    w = wakes[fid]
    if len(w["ended"]) > 1:
        fail("flow %d terminated %d times" % (fid, len(w["ended"])))
    out.write("F %d: %d -> %s\n" % (w["task"], w["tid"], w["ended"][0] if w["ended"] else "none"))
out.write("OK\n")
