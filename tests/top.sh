#!/bin/sh
# bbx top as a person uses it: on the demo service hung in its deadlock mode
# (service --hold: it stays hung, recording, until SIGTERM), in a terminal
# (tmux), reading the screen with capture-pane; and --once / --json on the
# same file while it runs and after it stopped. Prints "top: N passed, M failed".
#   tests/top.sh BUILD/bbx
BBX=${1:-build/bbx}
SERVICE=$(dirname "$BBX")/examples/async/service
SRC=examples/async/service.cpp
T=$(mktemp -d)
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   top: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL top: $1"; }
svc=
TM="tmux -S $T/tmux.sock -f /dev/null"
cleanup() {
    [ -n "$svc" ] && kill -TERM "$svc" 2>/dev/null
    $TM kill-server 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# The two co_await lines of the cycle, from the source (not pinned numbers).
line_a=$(grep -n 'co_await s.a_to_b.send' "$SRC" | head -n 1 | cut -d: -f1)
line_b=$(grep -n 'co_await s.b_to_a.send' "$SRC" | head -n 1 | cut -d: -f1)
[ -n "$line_a" ] && [ -n "$line_b" ] || bad "the co_await lines of the cycle are not in $SRC"

# wait_for SECONDS CMD...: until CMD succeeds (polled every 0.2 s); false on timeout.
wait_for() {
    n=$(($1 * 5))
    shift
    while [ $n -gt 0 ]; do
        "$@" && return 0
        sleep 0.2
        n=$((n - 1))
    done
    return 1
}

# The cycle, with both await lines, in a frame: exactly the deadlock's two tasks.
has_cycle() {
    grep -q 'deadlock: 2 tasks wait on each other' "$1" &&
        grep -q "task [0-9]* pipe_a waits to send on \"a_to_b\" (capacity 1) at examples/async/service.cpp:$line_a for" "$1" &&
        grep -q "task [0-9]* pipe_b waits to send on \"b_to_a\" (capacity 1) at examples/async/service.cpp:$line_b for" "$1"
}

F="$T/hung.bbx"
"$SERVICE" --mode deadlock --out "$F" --hold >"$T/service.out" 2>&1 &
svc=$!
if wait_for 60 grep -q 'holding' "$T/service.out"; then ok "the service in deadlock mode hangs and holds"
else bad "the service did not say it holds: $(cat "$T/service.out")"; fi

# --once while it runs: one frame, the cycle, "running".
"$BBX" top --once "$F" >"$T/once.txt" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "top --once on the running service (exit 0)" || bad "top --once: exit $rc: $(cat "$T/err")"
has_cycle "$T/once.txt" && ok "--once shows the cycle with both co_await lines" || bad "--once frame: $(cat "$T/once.txt")"
grep -q "^pid $svc  running" "$T/once.txt" && ok "--once says the process runs" || bad "--once header: $(sed -n 2p "$T/once.txt")"

# --json: one document; the cycle's waits at the two lines.
"$BBX" top --json "$F" >"$T/top.json" 2>"$T/err"
if python3 - "$T/top.json" "$line_a" "$line_b" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w = [x for x in d["warnings"] if x["kind"] == "deadlock"]
assert len(w) == 1, w
lines = sorted(s["at"]["line"] for s in w[0]["cycle"])
assert lines == sorted([int(sys.argv[2]), int(sys.argv[3])]), lines
assert d["running"] is True
names = {t["name"] for t in d["tasks"] if t["state"] == "idle" and t["waits"]}
assert names == {"pipe_a", "pipe_b"}, names
EOF
then ok "--json: the deadlock's cycle, the running process, the two waiting tasks"
else bad "--json: $(head -c 600 "$T/top.json")"; fi

if ! command -v tmux >/dev/null 2>&1; then
    echo "skip top: tmux is not installed (tools/deps.sh installs it with the test group): the terminal cases did not run"
else
    # The interactive view in a 160x50 terminal.
    $TM new-session -d -s top -x 160 -y 50 "$BBX top $F; echo \$? >$T/top.rc"
    $TM set-option -t top remain-on-exit on >/dev/null
    screen() { $TM capture-pane -p -t top >"$T/screen.txt"; }
    shows() { screen && grep -q "$1" "$T/screen.txt"; }
    if wait_for 20 shows 'deadlock: 2 tasks'; then ok "the view comes up in the terminal"
    else bad "no deadlock on the screen: $(cat "$T/screen.txt")"; fi
    has_cycle "$T/screen.txt" && ok "the screen shows the cycle with both co_await lines" \
        || bad "screen: $(cat "$T/screen.txt")"
    [ "$($TM display -p -t top '#{alternate_on}')" = 1 ] && ok "the view is on the alternate screen" \
        || bad "not on the alternate screen"
    # It refreshes: the time on the second line moves on.
    t1=$(sed -n 2p "$T/screen.txt" | sed -E 's/.* t=([0-9.]+) s.*/\1/')
    sleep 2.5
    screen
    t2=$(sed -n 2p "$T/screen.txt" | sed -E 's/.* t=([0-9.]+) s.*/\1/')
    [ -n "$t1" ] && [ "$t1" != "$t2" ] && ok "it refreshes by itself (t=$t1 s, then t=$t2 s)" \
        || bad "no refresh: '$t1' then '$t2'"
    # Filter by name: only pipe_b's row.
    $TM send-keys -t top / p i p e _ b Enter
    if wait_for 10 shows 'name: pipe_b'; then
        awk '/^tasks not done \(/{on=1} on' "$T/screen.txt" >"$T/rows.txt"
        grep -q ' pipe_b ' "$T/rows.txt" && ! grep -q ' pipe_a ' "$T/rows.txt" && ok "/pipe_b filters the task list" \
            || bad "filter: $(cat "$T/rows.txt")"
    else bad "the filter did not take: $(cat "$T/screen.txt")"; fi
    # Select it: its spawn site, await history and waits.
    $TM send-keys -t top j Enter
    if wait_for 10 shows 'spawned at'; then
        grep -q "open waits:" "$T/screen.txt" && grep -q "send on \"b_to_a\" at examples/async/service.cpp:$line_b since" "$T/screen.txt" &&
            grep -q "awaits, newest first:" "$T/screen.txt" && ok "Enter shows the task: spawn site, awaits, open waits" \
            || bad "details: $(cat "$T/screen.txt")"
    else bad "no details: $(cat "$T/screen.txt")"; fi
    # Pause, sort keys, help, back: the view stays up.
    $TM send-keys -t top Escape
    $TM send-keys -t top ' '
    wait_for 10 shows 'PAUSED' && ok "space pauses" || bad "no PAUSED: $(sed -n 2p "$T/screen.txt")"
    $TM send-keys -t top n
    wait_for 10 shows 'sort: name' && ok "n sorts by name" || bad "sort: $(sed -n 3p "$T/screen.txt")"
    # q quits, leaves the alternate screen, exit 0.
    $TM send-keys -t top q
    dead() { [ "$($TM display -p -t top '#{pane_dead}')" = 1 ]; }
    if wait_for 10 dead; then
        wait_for 5 test -s "$T/top.rc"
        st=$(cat "$T/top.rc" 2>/dev/null)
        alt=$($TM display -p -t top '#{alternate_on}')
        [ "$st" = 0 ] && [ "$alt" = 0 ] && ok "q quits (exit 0) and restores the screen" \
            || bad "after q: exit '$st', alternate screen '$alt'"
    else bad "q did not quit"; fi
    $TM kill-session -t top 2>/dev/null
    # SIGTERM: the terminal restored, exit 0.
    $TM new-session -d -s top -x 120 -y 40 "$BBX top $F"
    $TM set-option -t top remain-on-exit on >/dev/null
    wait_for 20 shows 'deadlock' || bad "second view did not come up"
    pid=$($TM display -p -t top '#{pane_pid}')
    kill -TERM "$pid"
    if wait_for 10 dead; then
        [ "$($TM display -p -t top '#{alternate_on}')" = 0 ] && ok "SIGTERM ends the view and restores the screen" \
            || bad "SIGTERM left the alternate screen on"
    else bad "SIGTERM did not end the view"; fi
    $TM kill-session -t top 2>/dev/null
fi

# The service stops on SIGTERM; the file of the dead process still reads.
kill -TERM "$svc"
wait "$svc"
rc=$?
svc=
[ $rc -eq 0 ] && ok "the held service stops on SIGTERM (exit 0)" || bad "service exit $rc: $(cat "$T/service.out")"
"$BBX" top --once "$F" >"$T/dead.txt" 2>"$T/err"
grep -q "not running (the capture's end)" "$T/dead.txt" && has_cycle "$T/dead.txt" \
    && ok "--once on the dead process's file: the cycle as it ended" || bad "dead file: $(cat "$T/dead.txt") $(cat "$T/err")"

# Usage errors.
"$BBX" top --once --json "$F" >/dev/null 2>&1; [ $? -eq 2 ] && ok "--once with --json: usage error" || bad "--once --json not refused"
"$BBX" top - </dev/null >/dev/null 2>&1; [ $? -eq 2 ] && ok "standard input: usage error" || bad "top - not refused"
"$BBX" top "$F" </dev/null >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "needs a terminal" "$T/err" && ok "no terminal: says so (exit 2)" || bad "no terminal: exit $rc $(cat "$T/err")"
"$BBX" top --once "$T/nope.bbx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^bbx: $T/nope.bbx: cannot open" "$T/err" && ok "a missing file (exit 1, named)" || bad "missing file: $rc $(cat "$T/err")"

echo "top: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
