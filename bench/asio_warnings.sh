#!/bin/sh
# bench/asio_warnings.sh BUILD_DIR [--connections N] [--requests N]
#
# What `bbx analyze` warns about Asio programs under load, where nothing is
# wrong: Asio's C++20 coroutine echo server (N short connections, default
# 20,000, of one 64-byte round trip each), its cpp11 HTTP server and its
# cpp03 HTTP server3 (8 threads, strands) (N requests each, default 20,000, a
# connection each, 4 clients at once), all built unchanged by tests/asio.mk
# and driven by bench/asio_load. Each server records to a capture (64 MiB
# ring per thread, the default level); the script prints, per server, the
# tasks analysed, events overwritten, and the warnings by kind.
# Expected: no self_wake warning on any of them (the rule atop
# decoder/src/analyze_rules.cpp), and no lost events.
#
# Not a benchmark: no time is measured. The echo example hard-codes port
# 55555; a lock file makes this and the tests take turns on it.
B=${1:-build}
[ $# -gt 0 ] && shift
conns=20000
requests=20000
while [ $# -gt 0 ]; do
    case $1 in
        --connections) conns=$2; shift 2 ;;
        --requests) requests=$2; shift 2 ;;
        *) echo "usage: bench/asio_warnings.sh BUILD_DIR [--connections N] [--requests N]" >&2; exit 2 ;;
    esac
done
A=$B/tests/asio
load=$B/bench/asio_load
for f in $A/http_server $A/http_server3 $A/echo_server $load $B/bbx; do
    [ -x "$f" ] || { echo "asio_warnings.sh: $f is not built (make -f bench/bench.mk B=$B asio; make asio-programs)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbx-asio-warnings.XXXXXX") || exit 1
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir "$tmp/doc"
head -c 2000 /dev/zero | tr '\0' x > "$tmp/doc/index.html"
failed=0

# summarise NAME CAPTURE: one line from bbx analyze --json
summarise() {
    "$B/bbx" analyze --json "$2" > "$tmp/a.json" || { echo "$1: bbx analyze failed" >&2; failed=1; return; }
    python3 - "$1" "$tmp/a.json" <<'EOF'
import json, sys, collections
a = json.load(open(sys.argv[2]))
kinds = collections.Counter(w["kind"] for w in a["warnings"])
selfw = sum(t["self_wakes"] for t in a["tasks"])
print("%-13s tasks %6d  overwritten %d  self-wake events %d  warnings: %s" % (
    sys.argv[1], len(a["tasks"]), a["capture"]["events_overwritten"], selfw,
    ", ".join("%s %d" % kv for kv in sorted(kinds.items())) or "none"))
EOF
}

# serve NAME LOAD-ARGS... : runs server NAME (its arguments in $args), drives it, stops it
serve() {
    name=$1; shift
    cap=$tmp/$name.bbx
    BBX_FILE=$cap BBX_RING_KB=65536 BBX_THREADS=16 $A/$name $args >/dev/null 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 1 500); do
        port=$($load port $pid 2>/dev/null) && break
        sleep 0.02
    done
    [ -n "$port" ] || { echo "$name: did not listen" >&2; failed=1; kill -9 $pid; pid=""; return; }
    out=$($load "$1" "$port" "$2" "$3" ${4:+"$4"}) || { echo "$name: load failed: $out" >&2; failed=1; }
    kill -"$stopsig" $pid
    wait $pid
    pid=""
    echo "$name: $out" >&2
    summarise "$name" "$cap"
    rm -f "$cap"
}

exec 9>/tmp/bbx-test-port-55555.lock
flock 9
args="" stopsig=INT serve echo_server echo "$conns" 1 4
flock -u 9
args="127.0.0.1 0 $tmp/doc" stopsig=TERM serve http_server http "$requests" 4
args="127.0.0.1 0 8 $tmp/doc" stopsig=TERM serve http_server3 http "$requests" 4
exit $failed
