#!/bin/sh
# bench/asio.sh BUILD_DIR [--requests N] [--runs R] [--concurrency C] [--smoke]
#
# What tracing an Asio program costs its CPU: Asio's cpp11 HTTP server and its
# C++20 coroutine echo server (tests/asio.mk builds both, unchanged), each in
# three builds and settings:
#   plain   built without the handler tracking definitions or the recorder
#   off     built with them (bbx/asio_tracking.hpp), no recording (BBX_FILE unset)
#   on      built with them, recording to a capture at the recorder's defaults
#           (BBX_FILE set: 64 KiB ring per thread, run-time level TRACE, so
#           every hook event is written)
# Each run starts the server, warms it up with 500 requests (page faults of
# the ring, first registrations of call sites: not measured), then drives it
# over 127.0.0.1 with bench/asio_load (N HTTP requests, a connection each; or
# N/10 echo connections of 10 round trips of 64 bytes), C clients at once,
# and takes the server's CPU time over that load: the sum of its threads'
# /proc/PID/task/TID/schedstat run times before and after. The server runs on
# the last CPU and the client on the others when there are two or more. R
# runs, the three settings alternating within each run (their order rotated
# from run to run); medians (and the spread, p25..p75) of CPU us per request.
#
# The machine is shared: the load average is printed before and after each
# server's runs. Exit status 1 if a server failed to serve every request.
#
# --instructions: instead of CPU time, the user-space instructions the server
# executes per request under valgrind's callgrind (counters zeroed after the
# warm-up, read after the load; one run per setting): repeatable where the
# times are not, but blind to the kernel, where a server spends most of its
# time, so the ratios overstate the cost; the difference per request is what
# to read.
B=${1:-build}
[ $# -gt 0 ] && shift
requests=20000
runs=5
conc=4
smoke=""
instructions=""
while [ $# -gt 0 ]; do
    case $1 in
        --instructions) instructions=1; requests=2000; runs=1; shift ;;
        --requests) requests=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --concurrency) conc=$2; shift 2 ;;
        --smoke) smoke=1; requests=200; runs=1; shift ;;
        *) echo "usage: bench/asio.sh BUILD_DIR [--requests N] [--runs R] [--concurrency C] [--smoke] [--instructions]" >&2; exit 2 ;;
    esac
done
A=$B/tests/asio
load=$B/bench/asio_load
for f in $A/http_server $A/echo_server $A/plain/http_server $A/plain/echo_server $load $B/bbx; do
    [ -x "$f" ] || { echo "asio.sh: $f is not built (make -f bench/bench.mk B=$B asio)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbx-bench-asio.XXXXXX") || exit 1
pid=""
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir "$tmp/doc"
head -c 2000 /dev/zero | tr '\0' x > "$tmp/doc/index.html"
failed=0

last=$(($(nproc) - 1))
pin_server="" pin_client=""
if [ "$last" -ge 1 ] && command -v taskset >/dev/null; then
    pin_server="taskset -c $last"
    pin_client="taskset -c 0-$((last - 1))"
fi

cpu_ns() { cat /proc/$1/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# nearest-rank quantile Q (0..1) of the numbers on standard input
quantile() { sort -n | awk -v q="$1" '{ a[NR] = $1 } END { i = int(q * NR + 0.999999); if (i < 1) i = 1; print a[i] }'; }

# run SERVER SETTING RUN: one run; appends "SETTING us_per_request" to $tmp/SERVER.txt
run() {
    server=$1 setting=$2
    bin=$A/$server
    [ "$setting" = plain ] && bin=$A/plain/$server
    cap=$tmp/$server.bbx
    rm -f "$cap"
    if [ "$setting" = on ]; then export BBX_FILE="$cap"; else unset BBX_FILE; fi
    vg=""
    [ -n "$instructions" ] && vg="valgrind --tool=callgrind --callgrind-out-file=$tmp/cg.out"
    rm -f "$tmp"/cg.out*
    if [ "$server" = http_server ]; then
        $pin_server $vg "$bin" 127.0.0.1 0 "$tmp/doc" >/dev/null 2>&1 &
    else
        $pin_server $vg "$bin" >/dev/null 2>&1 &
    fi
    pid=$!
    unset BBX_FILE
    port=""
    for i in $(seq 1 500); do
        port=$("$load" port $pid 2>/dev/null) && break
        sleep 0.02
    done
    [ -n "$port" ] || { echo "FAIL $server ($setting): never listened"; failed=1; kill -9 $pid; wait $pid 2>/dev/null; pid=""; return; }
    drive() {
        if [ "$server" = http_server ]; then $pin_client "$load" http "$port" "$1" "$conc"
        else $pin_client "$load" echo "$port" $(($1 / 10)) 10 "$conc"; fi
    }
    drive 500 >/dev/null || failed=1
    if [ -n "$instructions" ]; then
        callgrind_control -z $pid >/dev/null 2>&1
        out=$(drive "$requests") || failed=1
        callgrind_control -d $pid >/dev/null 2>&1
        kill -TERM $pid
        wait $pid 2>/dev/null
        pid=""
        # the dump taken after the load: the instructions since the zeroing
        dump=$(ls "$tmp"/cg.out.* 2>/dev/null | head -n 1)
        ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dump" | head -n 1)
        us=$(echo "$ir $requests" | awk '{ printf "%.0f", $1 / $2 }')
    else
        before=$(cpu_ns $pid)
        out=$(drive "$requests") || failed=1
        after=$(cpu_ns $pid)
        kill -TERM $pid
        wait $pid 2>/dev/null
        pid=""
        us=$(echo "$before $after $requests" | awk '{ printf "%.2f", ($2 - $1) / $3 / 1000 }')
    fi
    events=""
    if [ "$setting" = on ]; then
        events=$("$B/bbx" info "$cap" 2>/dev/null | sed -n 's/^events *\([0-9]*\) readable, \([0-9]*\) overwritten.*/\1 \2/p' | awk '{ print $1 + $2 }')
    fi
    echo "$setting $us" >> "$tmp/$server.txt"
    printf '  %-12s %-6s %8s %s  (%s%s)\n' "$server" "$setting" "$us" "$unit" "$out" "${events:+, $events events written}"
}

unit="us/request"
[ -n "$instructions" ] && unit="instructions/request"
echo "blackbox on Asio: server ${instructions:+user-space instructions}${instructions:-CPU time} with and without tracing${smoke:+   [--smoke: a tiny run, the numbers mean nothing]}"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cpus"
echo "command:  sh bench/asio.sh $B --requests $requests --runs $runs --concurrency $conc${instructions:+ --instructions}"
echo "servers:  Asio $(sed -n 's/^#define ASIO_VERSION \([0-9]*\).*/\1/p' /usr/include/asio/version.hpp) examples cpp11/http/server (one thread) and cpp17/coroutines_ts/echo_server"
for server in http_server echo_server; do
    [ "$server" = echo_server ] && exec 9>/tmp/bbx-test-port-55555.lock && flock 9  # its port is hard-coded
    echo
    echo "$server: load $(cut -d' ' -f1-3 /proc/loadavg) before"
    : > "$tmp/$server.txt"
    for r in $(seq 1 "$runs"); do
        case $((r % 3)) in
            1) order="plain off on" ;;
            2) order="off on plain" ;;
            0) order="on plain off" ;;
        esac
        for s in $order; do run $server $s; done
    done
    echo "$server: load $(cut -d' ' -f1-3 /proc/loadavg) after"
    [ "$server" = echo_server ] && exec 9>&-
done

echo
if [ -n "$instructions" ]; then
    echo "server user-space instructions per request (callgrind; the kernel's work not counted):"
    echo
    echo "| server | plain | off | on | off - plain | on - plain | on - off |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for server in http_server echo_server; do
        echo "$server $(awk '$1 == "plain" { print $2 }' "$tmp/$server.txt") $(awk '$1 == "off" { print $2 }' "$tmp/$server.txt") $(awk '$1 == "on" { print $2 }' "$tmp/$server.txt")" |
            awk '{ printf "| %s | %d | %d | %d | %+d | %+d | %+d |\n", $1, $2, $3, $4, $3 - $2, $4 - $2, $4 - $3 }'
    done
    exit $failed
fi
echo "server CPU us per request, median (p25..p75) of $runs runs:"
echo
echo "| server | plain | off | on | off / plain | on / plain | target: on <= 1.05 x plain |"
echo "|---|---:|---:|---:|---:|---:|---|"
for server in http_server echo_server; do
    cell() { # SETTING -> "median p25 p75"
        v=$(awk -v s="$1" '$1 == s { print $2 }' "$tmp/$server.txt")
        echo "$(echo "$v" | median) $(echo "$v" | quantile 0.25) $(echo "$v" | quantile 0.75)"
    }
    echo "$server $(cell plain) $(cell off) $(cell on)" | awk '{ r1 = $5 / $2; r2 = $8 / $2;
        printf "| %s | %.2f (%.2f..%.2f) | %.2f (%.2f..%.2f) | %.2f (%.2f..%.2f) | %.3f | %.3f | %s |\n",
            $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, r1, r2, (r2 <= 1.05 ? "PASS" : "MISS") }'
done
exit $failed
