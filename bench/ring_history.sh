#!/bin/sh
# bench/ring_history.sh BUILD_DIR [--requests N] [--concurrency C]
#
# How many seconds of history a ring holds, measured: records two workloads
# with rings large enough that nothing is overwritten, reads what bbx info
# says of each (events, ring bytes per event, and per ring the time its
# events span and their rate: the "history" block), and turns the busiest
# ring's rate into a table "ring size -> seconds of history".
#
#   demo      examples/async/service --mode fixed (the demo's service, as
#             make demo runs it: a gateway, two workers, a blocking pool;
#             paced by its own decompression work; its own 64 KiB rings)
#   asio      Asio's cpp11 HTTP server (tests/asio.mk, one thread), at the
#             recorder's defaults except the ring (BBX_RING_KB=65536; run-time
#             level TRACE: every hook event), under full load from
#             bench/asio_load: N requests of 2000 bytes, C clients at once,
#             over 127.0.0.1, after 500 requests of warm-up
#
# The asio rate is what this machine serves at full load: a busier or idler
# server scales it. bytes/request is the figure that does not depend on the
# load: seconds = ring bytes / (bytes/request x requests/s), also printed for
# 1,000 and 10,000 requests/s. The machine is shared: the load average is
# printed before and after.
set -u
B=${1:-build}
[ $# -gt 0 ] && shift
requests=10000
conc=4
while [ $# -gt 0 ]; do
    case $1 in
        --requests) requests=$2; shift 2 ;;
        --concurrency) conc=$2; shift 2 ;;
        *) echo "usage: bench/ring_history.sh BUILD_DIR [--requests N] [--concurrency C]" >&2; exit 2 ;;
    esac
done
A=$B/tests/asio
load=$B/bench/asio_load
for f in "$B/examples/async/service" "$A/http_server" "$load" "$B/bbx"; do
    [ -x "$f" ] || { echo "ring_history.sh: $f is not built (make -f bench/bench.mk B=$B asio; make $B/examples/async/service)" >&2; exit 1; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbx-ring-history.XXXXXX") || exit 1
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# measure NAME CAPTURE [REQUESTS]: one line "NAME threads events_written bytes/event busiest_events/s busiest_B/s bytes/request"
measure() {
    "$B/bbx" info "$2" >"$tmp/info" || exit 1
    awk -v name="$1" -v req="${3:-0}" '
        /^events / { readable = $2; over = $4 }
        /^size / { bpe = $4 }
        /^history / { h = 1; next }
        h && /^  ring/ { next }
        h && /^$/ { h = 0 }
        h {
            v = $7; u = $8; mult = (u == "KiB/s") ? 1024 : (u == "MiB/s") ? 1048576 : 1
            if ($6 != "-" && v * mult > best) { best = v * mult; rate = $6 }
            n++
        }
        END {
            # A ring that wrapped still gives its rate over what it holds; bytes/request counts every event written.
            printf "%s %d %d %.1f %.0f %.0f %.0f\n", name, n, readable + over, bpe, rate, best, req ? (readable + over) * bpe / req : 0
        }' "$tmp/info"
}

echo "blackbox: how long a ring holds, measured"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cpus; load $(cut -d' ' -f1-3 /proc/loadavg) before"
echo "command:  sh bench/ring_history.sh $B --requests $requests --concurrency $conc"

"$B/examples/async/service" --mode fixed --out "$tmp/service.bbx" >/dev/null 2>&1 || { echo "service failed"; exit 1; }
measure demo "$tmp/service.bbx" >"$tmp/rows" || exit 1

mkdir "$tmp/doc"
head -c 2000 /dev/zero | tr '\0' x >"$tmp/doc/index.html"
BBX_FILE="$tmp/http.bbx" BBX_RING_KB=65536 BBX_THREADS=4 "$A/http_server" 127.0.0.1 0 "$tmp/doc" >/dev/null 2>&1 &
pid=$!
port=""
for i in $(seq 1 500); do
    port=$("$load" port $pid 2>/dev/null) && break
    sleep 0.02
done
[ -n "$port" ] || { echo "http_server never listened"; exit 1; }
"$load" http "$port" 500 "$conc" >/dev/null || { echo "warm-up failed"; exit 1; }
out=$("$load" http "$port" "$requests" "$conc") || { echo "load failed: $out"; exit 1; }
kill -TERM $pid
wait $pid 2>/dev/null
pid=""
measure asio "$tmp/http.bbx" $((requests + 500)) >>"$tmp/rows" || exit 1
echo "load:     asio_load http: $out; load $(cut -d' ' -f1-3 /proc/loadavg) after"
echo

printf '%-6s %8s %9s %12s %16s %14s %14s\n' workload threads events bytes/event "busiest events/s" "busiest KiB/s" "bytes/request"
while read -r name n ev bpe rate bps breq; do
    printf '%-6s %8s %9s %12s %16s %14.1f %14s\n' "$name" "$n" "$ev" "$bpe" "$rate" "$(echo "$bps" | awk '{ print $1 / 1024 }')" \
        "$([ "$breq" = 0 ] && echo - || echo "$breq")"
done <"$tmp/rows"

echo
echo "seconds of history a ring holds (ring KiB / busiest ring's KiB/s; the asio columns at 1,000 and"
echo "10,000 requests/s: ring bytes / (bytes/request x rate))"
demo_bps=$(awk '$1 == "demo" { print $6 }' "$tmp/rows")
asio_bps=$(awk '$1 == "asio" { print $6 }' "$tmp/rows")
asio_req=$(awk '$1 == "asio" { print $7 }' "$tmp/rows")
asio_rate=$(echo "$out" | awk -v r="$requests" '{ for (i = 1; i <= NF; i++) if ($i == "s") print r / $(i - 1) }')
printf '%-10s %14s %22s %16s %16s\n' ring_kb demo "asio at full load" "asio 1k req/s" "asio 10k req/s"
for kb in 64 256 1024 4096 16384 65536; do
    echo "$kb $demo_bps $asio_bps $asio_req" | awk '{
        b = $1 * 1024
        printf "%-10s %13.1fs %21.3fs %15.2fs %15.3fs\n", $1, b / $2, b / $3, b / ($4 * 1000), b / ($4 * 10000) }'
done
echo "(asio at full load: $(printf '%.0f' "$asio_rate") requests/s on this machine)"
