#!/usr/bin/env python3
"""The OTLP/JSON Lines checker of tests/test_otlp.cpp: validates every line against
the OTLP JSON encoding and prints the spans, events and statuses it read.

    python3 tests/support/otlp.py TRACE.jsonl "REMOTE_PARENT_IDS"
"""
import json, re, sys
path = sys.argv[1]
remote = set(x for x in sys.argv[2].split(",") if x)
def fail(msg):
    sys.stdout.write("ERROR %s\n" % msg)
    sys.stdout.flush()
    sys.exit(1)
# Field names from opentelemetry-proto: trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto.
ALLOWED = {
    "TracesData": {"resourceSpans"},
    "ResourceSpans": {"resource", "scopeSpans", "schemaUrl"},
    "Resource": {"attributes", "droppedAttributesCount", "entityRefs"},
    "ScopeSpans": {"scope", "spans", "schemaUrl"},
    "InstrumentationScope": {"name", "version", "attributes", "droppedAttributesCount"},
    "Span": {"traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind", "startTimeUnixNano",
             "endTimeUnixNano", "attributes", "droppedAttributesCount", "events", "droppedEventsCount", "links",
             "droppedLinksCount", "status"},
    "Event": {"timeUnixNano", "name", "attributes", "droppedAttributesCount"},
    "Status": {"message", "code"},
    "KeyValue": {"key", "value"},
    "AnyValue": {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"},
}
CAMEL = re.compile(r"[a-z][A-Za-z0-9]*\Z")
def obj(v, kind, where):
    if not isinstance(v, dict):
        fail("%s: %s is not an object: %r" % (where, kind, v))
    for k in v:
        if not CAMEL.match(k):
            fail("%s: key %r is not lowerCamelCase" % (where, k))
        if k not in ALLOWED[kind]:
            fail("%s: key %r is not a field of %s" % (where, k, kind))
    return v
def arr(v, where):
    if not isinstance(v, list):
        fail("%s: not an array: %r" % (where, v))
    return v
def hexid(v, n, where):
    if not isinstance(v, str) or not re.fullmatch("[0-9a-f]{%d}" % n, v) or v == "0" * n:
        fail("%s: %r is not %d lowercase hex digits, not all zero" % (where, v, n))
    return v
def u64(v, where):  # fixed64: a decimal string
    if not isinstance(v, str) or not re.fullmatch(r"0|[1-9][0-9]*", v) or int(v) >= 2 ** 64:
        fail("%s: %r is not a uint64 as a decimal string" % (where, v))
    return int(v)
def num(v, lo, hi, where):  # 32-bit integers and enums: JSON numbers
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        fail("%s: %r is not an integer in [%d, %d]" % (where, v, lo, hi))
    return v
def value(v, where):
    obj(v, "AnyValue", where)
    if len(v) != 1:
        fail("%s: AnyValue with %d fields" % (where, len(v)))
    (k, x), = v.items()
    if k == "stringValue":
        if not isinstance(x, str):
            fail("%s: stringValue %r" % (where, x))
        return "s:" + x.encode("utf-8").hex()
    if k == "intValue":  # int64: a decimal string
        if not isinstance(x, str) or not re.fullmatch(r"-?(0|[1-9][0-9]*)", x) or not -2 ** 63 <= int(x) < 2 ** 63:
            fail("%s: intValue %r is not an int64 as a decimal string" % (where, x))
        return "i:%d" % int(x)
    if k == "doubleValue":
        if isinstance(x, str):
            if x not in ("NaN", "Infinity", "-Infinity"):
                fail("%s: doubleValue %r" % (where, x))
            return "f:" + x
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            fail("%s: doubleValue %r" % (where, x))
        return "f:" + repr(float(x))
    if k == "boolValue":
        if not isinstance(x, bool):
            fail("%s: boolValue %r" % (where, x))
        return "b:" + ("true" if x else "false")
    fail("%s: unexpected AnyValue %r" % (where, k))
def attributes(v, where):
    seen = set()
    out = []
    for i, kv in enumerate(arr(v, where)):
        obj(kv, "KeyValue", where)
        k = kv.get("key")
        if not isinstance(k, str) or not k or "value" not in kv:
            fail("%s: attribute %r" % (where, kv))
        if k in seen:
            fail("%s: attribute key %r repeated" % (where, k))
        seen.add(k)
        out.append(k + "=" + value(kv["value"], where + "." + k))
    return " ".join(out)
def no_constants(c):
    fail("non-JSON constant %s" % c)
def no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            fail("duplicate key %r" % k)
        d[k] = v
    return d

data = open(path, "rb").read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    fail("not UTF-8: %s" % e)
if not text.endswith("\n"):
    fail("the last line does not end with a newline")
lines = text[:-1].split("\n")
spans = {}
order = []
resource = None
for n, line in enumerate(lines, 1):
    where = "line %d" % n
    doc = json.loads(line, parse_constant=no_constants, object_pairs_hook=no_duplicates)
    obj(doc, "TracesData", where)
    rs = arr(doc.get("resourceSpans"), where)
    if len(rs) != 1:
        fail("%s: %d resourceSpans" % (where, len(rs)))
    r = obj(rs[0], "ResourceSpans", where)
    res = attributes(obj(r["resource"], "Resource", where)["attributes"], where + " resource")
    if resource is None:
        resource = res
        sys.stdout.write("R %s\n" % res)
    elif res != resource:
        fail("%s: resource differs: %s" % (where, res))
    ss = arr(r.get("scopeSpans"), where)
    if len(ss) != 1:
        fail("%s: %d scopeSpans" % (where, len(ss)))
    s = obj(ss[0], "ScopeSpans", where)
    if obj(s["scope"], "InstrumentationScope", where).get("name") != "blackbox":
        fail("%s: scope %r" % (where, s["scope"]))
    line_spans = arr(s.get("spans"), where)
    if not 1 <= len(line_spans) <= 1000:
        fail("%s: %d spans" % (where, len(line_spans)))
    for sp in line_spans:
        obj(sp, "Span", where)
        sid = hexid(sp.get("spanId"), 16, where + " spanId")
        w = where + " span " + sid
        tid = hexid(sp.get("traceId"), 32, w + " traceId")
        parent = sp.get("parentSpanId")
        if parent is not None:
            hexid(parent, 16, w + " parentSpanId")
        if sid in spans:
            fail("%s: spanId repeated" % w)
        name = sp.get("name")
        if not isinstance(name, str) or not name:
            fail("%s: name %r" % (w, name))
        kind = num(sp.get("kind"), 1, 5, w + " kind")
        flags = num(sp.get("flags", 0), 0, 2 ** 32 - 1, w + " flags")
        start = u64(sp.get("startTimeUnixNano"), w + " start")
        end = u64(sp.get("endTimeUnixNano"), w + " end")
        if start > end:
            fail("%s: starts at %d after it ends at %d" % (w, start, end))
        attrs = attributes(sp.get("attributes", []), w)
        da = num(sp.get("droppedAttributesCount", 0), 0, 2 ** 32 - 1, w)
        de = num(sp.get("droppedEventsCount", 0), 0, 2 ** 32 - 1, w)
        spans[sid] = (tid, parent)
        order.append("S %s %s %s %d %d %d %d %d %d %s|%s" % (sid, tid, parent or "-", kind, flags, start, end, da, de, name, attrs))
        for ev in arr(sp.get("events", []), w):
            obj(ev, "Event", w)
            t = u64(ev.get("timeUnixNano"), w + " event time")
            if not start <= t <= end:
                fail("%s: event at %d outside [%d, %d]" % (w, t, start, end))
            en = ev.get("name")
            if not isinstance(en, str) or not en:
                fail("%s: event name %r" % (w, en))
            order.append("E %s %d %s|%s" % (sid, t, en, attributes(ev.get("attributes", []), w + " event")))
        if "status" in sp:
            st = obj(sp["status"], "Status", w)
            code = num(st.get("code", 0), 0, 2, w + " status code")
            order.append("X %s %d %s" % (sid, code, st.get("message", "")))
for sid, (tid, parent) in spans.items():
    if parent is None:
        continue
    if parent in spans:
        if spans[parent][0] != tid:
            fail("span %s: parent %s is in another trace" % (sid, parent))
    elif parent not in remote:
        fail("span %s: parent %s is neither in the file nor a known remote parent" % (sid, parent))
for o in order:
    sys.stdout.write(o + "\n")
sys.stdout.write("OK %d %d\n" % (len(lines), len(spans)))
