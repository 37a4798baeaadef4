#!/bin/sh
# bench/hot_path.sh BIN [ARGS...]: runs the hot-path benchmark BIN. When BIN
# was built with the LTTng peer and lttng-tools is installed, it runs inside an
# LTTng session made for it, and the LTTng events are counted afterwards:
#
#   1. start lttng-sessiond (unless one is already running for this user), on
#      the last allowed CPU so that its consumer daemon stays off the CPU the
#      benchmark is pinned to (the first);
#   2. create a session writing to a temporary folder, a user-space channel,
#      enable the event bbx_bench:instant_int, start;
#   3. run BIN (which waits for the event to be enabled in its process);
#   4. stop the session (lttng waits until the data is written), read the
#      channel's discarded-event count, destroy the session, stop the daemon
#      we started;
#   5. count the events in the trace with babeltrace2 (sink.utils.counter);
#      without babeltrace2, report the size of the trace's data files.
#
# The check passes when counted + discarded = what BIN says it emitted
# ("lttng-emitted: N"), and at least one event was recorded. The exit code is
# BIN's, or 1 if the LTTng check failed.
bin=$1
shift
[ -x "$bin" ] || { echo "hot_path.sh: $bin is not built" >&2; exit 1; }

if ! "$bin" --peers | grep -qx lttng; then
    exec "$bin" "$@"
fi
if ! command -v lttng >/dev/null 2>&1 || ! command -v lttng-sessiond >/dev/null 2>&1; then
    echo "skipped: LTTng-UST (apt-get install lttng-tools)"
    exec "$bin" "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbx-bench-lttng.XXXXXX") || exit 1
session="bbx-bench-$$"
daemon_pid=""
session_made=""
out="$tmp/hot_path.out"

cleanup() {
    if [ -n "$session_made" ]; then
        lttng destroy "$session" >/dev/null 2>&1
        session_made=""
    fi
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null
        i=0
        while kill -0 "$daemon_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
        daemon_pid=""
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The last CPU this process may run on ("0,1", "0-3" or "0-3,6").
cpus=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//')
last_cpu=${cpus##*[,-]}
pin=""
[ -n "$last_cpu" ] && command -v taskset >/dev/null 2>&1 && pin="taskset -c $last_cpu"

if ! lttng list >/dev/null 2>&1; then
    # No session daemon for this user: start one in the foreground of a background job, so its pid is ours.
    $pin lttng-sessiond --no-kernel >"$tmp/sessiond.log" 2>&1 &
    daemon_pid=$!
    i=0
    until lttng list >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 "$daemon_pid" 2>/dev/null; then
            echo "skipped: LTTng-UST (lttng-sessiond did not start; its log:)"
            sed 's/^/    /' "$tmp/sessiond.log"
            daemon_pid=""
            "$bin" "$@"
            exit $?
        fi
        sleep 0.05
    done
fi

# 16 sub-buffers of 1 MiB per CPU: room for a few rounds between two reads of
# the consumer daemon. Discard mode (LTTng's default): a full buffer drops events.
if ! { lttng create "$session" --output="$tmp/trace" &&
       session_made=1 &&
       lttng enable-channel --userspace --session="$session" --subbuf-size=1M --num-subbuf=16 bench &&
       lttng enable-event --userspace --session="$session" --channel=bench bbx_bench:instant_int &&
       lttng start "$session"; } >"$tmp/lttng.log" 2>&1; then
    echo "skipped: LTTng-UST (cannot set up a session; lttng said:)"
    sed 's/^/    /' "$tmp/lttng.log"
    "$bin" "$@"
    exit $?
fi

BBX_BENCH_LTTNG_SESSION=1 "$bin" "$@" | tee "$out"
rc=$?
# tee hides BIN's exit code in plain sh: take it from the output instead.
grep -q '^recording check: .*: OK$' "$out" || rc=1
grep -q '^recording check, spdlog: .*: FAILED$' "$out" && rc=1

emitted=$(sed -n 's/^recording check, lttng: lttng-emitted: \([0-9]*\) .*/\1/p' "$out")
[ -n "$emitted" ] || exit $rc  # the LTTng case did not run (its reason is in the table)

lttng stop "$session" >"$tmp/stop.log" 2>&1
discarded=$(lttng list "$session" 2>/dev/null | sed -n 's/.*[Dd]iscarded events: *\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
lttng destroy "$session" >/dev/null 2>&1
session_made=""

bytes=$(find "$tmp/trace" -type f ! -name metadata ! -name '*.idx' -exec cat {} + 2>/dev/null | wc -c)
if command -v babeltrace2 >/dev/null 2>&1; then
    # The counter prints running totals as it goes; the last "Event messages" line is the total.
    counted=$(babeltrace2 "$tmp/trace" -c sink.utils.counter 2>"$tmp/bt.log" |
              sed -n 's/^ *\([0-9][0-9]*\) Event messages$/\1/p' | tail -n 1)
    if [ -z "$counted" ]; then
        echo "recording check, lttng: babeltrace2 could not count the trace: FAILED"
        sed 's/^/    /' "$tmp/bt.log" | head -n 5
        exit 1
    fi
    per=$(awk -v b="$bytes" -v n="$counted" 'BEGIN { if (n > 0) printf "%.1f", b / n; else print "-" }')
    if [ $((counted + discarded)) -eq "$emitted" ] && [ "$counted" -gt 0 ]; then verdict=OK; else verdict=FAILED; rc=1; fi
    echo "recording check, lttng (babeltrace2 sink.utils.counter): $counted events in the trace + $discarded discarded" \
         "(lttng list) = $((counted + discarded)), emitted $emitted; $bytes bytes of stream data, $per bytes/event: $verdict"
else
    if [ "$bytes" -gt 0 ]; then verdict=OK; else verdict=FAILED; rc=1; fi
    echo "recording check, lttng: babeltrace2 not installed, so not counted: $bytes bytes of stream data for" \
         "$emitted events emitted, $discarded discarded (lttng list): $verdict (apt-get install babeltrace2 to count)"
fi
exit $rc
