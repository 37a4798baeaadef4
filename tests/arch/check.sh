#!/bin/sh
# Captures recorded on one architecture decode on another. tests/arch/ keeps
# a capture of tests/arch/record.cpp recorded on x86-64 and one recorded on
# aarch64 (tests/arch/record.sh makes them again); `make test` decodes both
# with the x86-64 bbx, `make test-aarch64` with the aarch64 one. For each:
# - `bbx dump` prints exactly NAME.dump (as any bbx must, on any machine);
# - independently of that file, the events are the ones record.cpp records:
#   names, arguments of every type, counts, both threads, the task, the
#   context, the C API's events, times that never go backwards;
# - `bbx info` reads the header, and the trace converters accept it.
# Prints "arch: N passed, M failed".
#   tests/arch/check.sh BBX
BBX=${1:-build/bbx}
DIR=$(dirname "$0")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   arch: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL arch: $1"; }

# count NAME PATTERN N: the dump has N lines matching PATTERN.
count() {
    n=$(grep -c -- "$2" "$T/dump")
    if [ "$n" -eq "$3" ]; then return 0; fi
    bad "$1: $n lines match '$2', expected $3"
    return 1
}

found=0
for capture in "$DIR"/*.bbx; do
    [ -e "$capture" ] || continue
    found=$((found + 1))
    name=$(basename "$capture" .bbx)
    if ! "$BBX" dump "$capture" >"$T/dump" 2>"$T/err"; then
        bad "$name: bbx dump failed: $(head -c 300 "$T/err")"
        continue
    fi
    if cmp -s "$T/dump" "$DIR/$name.dump"; then ok "$name: bbx dump prints $name.dump exactly"
    else bad "$name: bbx dump differs from $name.dump: $(diff "$DIR/$name.dump" "$T/dump" | head -4 | tr '\n' ' ')"; fi

    # Its last line says what the capture lost: record.cpp loses nothing.
    if [ "$(tail -n 1 "$T/dump")" = "# losses: none" ]; then ok "$name: the dump's last line says nothing was lost"
    else bad "$name: the dump's last line is not '# losses: none': $(tail -n 1 "$T/dump")"; fi
    sed -i '$d' "$T/dump"

    # What record.cpp recorded, read from the dump without the expected file.
    sed 's/^ *[0-9.]*  //' "$T/dump" >"$T/events"
    i=0 expect_ticks=""
    while [ $i -lt 10 ]; do
        half=$(echo $i | awk '{ print $1 * 0.5 }')
        expect_ticks="${expect_ticks}T0  instant  arch  tick  i=$i half=$half
T0  counter  arch  depth  value=$((100 - i))
"
        i=$((i + 1))
    done
    printf '%s' "$expect_ticks" >"$T/want_ticks"
    grep -e '  tick  ' -e '  depth  ' "$T/events" >"$T/got_ticks"
    if cmp -s "$T/got_ticks" "$T/want_ticks"; then ok "$name: ten instants and ten counters, in order, with their values"
    else bad "$name: the tick/depth events differ: $(diff "$T/want_ticks" "$T/got_ticks" | head -4 | tr '\n' ' ')"; fi
    all=1
    grep -qx 'T0  begin  arch  outer  i64=-1099511627776 u64=18446744073709551615 f64=-0.125 bool=true str="little-endian"' "$T/events" || all=0
    grep -qx 'T0  instant  arch  text  long="a string of forty-three bytes, across slots"' "$T/events" || all=0
    grep -qx 'T0  counter  arch  ratio  value=0.75' "$T/events" || all=0
    grep -qx 'T0  end  arch  outer' "$T/events" || all=0
    if [ $all = 1 ]; then ok "$name: a span with an argument of every type, a 43-byte string, a double counter"
    else bad "$name: the outer span, the text or the ratio is not as recorded"; fi
    if grep -q '^T0  context  -  -  trace=0af7651916cd43dd8448eb211c80319c span=[0-9a-f]\{16\} parent=b7ad6b7169203331 role=server flags=01$' "$T/events"
    then ok "$name: the W3C context (trace id, parent, role)"
    else bad "$name: no context event with the recorded trace id and parent"; fi
    printf 'T0  spawn  task  arch_task  task=7 parent=0 frame=256\nT0  wake  -  -  task=7 by=0\nT0  poll_begin  -  -  task=7\nT0  instant  arch  in_task\nT0  poll_end  -  -  task=7\nT0  complete  -  -  task=7\n' >"$T/want_task"
    grep -e 'task=7' -e 'in_task' "$T/events" >"$T/got_task"
    if cmp -s "$T/got_task" "$T/want_task"; then ok "$name: a task's spawn, wake, poll and completion"
    else bad "$name: the task events differ: $(diff "$T/want_task" "$T/got_task" | head -4 | tr '\n' ' ')"; fi
    printf 'T1  begin  arch_c  c_span  i64=-7 u64=7 f64=1.5 bool=true str="from C"\nT1  counter  arch_c  c_count  value=3\nT1  counter  arch_c  c_ratio  value=0.5\nT1  end  arch_c  c_span\n' >"$T/want_c"
    grep '^T1  ' "$T/events" >"$T/got_c"
    if cmp -s "$T/got_c" "$T/want_c"; then ok "$name: the C API's span and counters on the second thread"
    else bad "$name: the C API's events differ: $(diff "$T/want_c" "$T/got_c" | head -4 | tr '\n' ' ')"; fi
    count "$name" '' 35 && ok "$name: 35 events, no more"
    # Times: never backwards on a thread, and the whole run within a second.
    if awk '{ t = $1 + 0; if (t < last[$2]) bad = 1; last[$2] = t; if (t > 1) bad = 1 } END { exit bad }' "$T/dump"
    then ok "$name: times never go backwards on a thread"
    else bad "$name: times go backwards, or past a second: $(head -3 "$T/dump" | tr '\n' ' ')"; fi

    if "$BBX" info "$capture" >"$T/info" 2>"$T/err" && grep -q '^ended       cleanly' "$T/info" &&
       grep -q ' arch-main ' "$T/info" && grep -q ' arch-c ' "$T/info" && grep -q '^clock  .* counter' "$T/info"; then
        ok "$name: bbx info: $(sed -n 's/^clock *//p' "$T/info"), both threads named, ended cleanly"
    else bad "$name: bbx info: $(head -c 400 "$T/info" "$T/err" | tr '\n' ' ')"; fi
    conv=1
    for to in perfetto chrome otlp; do
        "$BBX" convert "$capture" --to $to -o "$T/out.$to" >/dev/null 2>"$T/err" && [ -s "$T/out.$to" ] || conv=0
    done
    if [ $conv = 1 ]; then ok "$name: converts to Perfetto, Chrome JSON and OTLP"
    else bad "$name: a conversion failed: $(head -c 300 "$T/err")"; fi
done
[ $found -ge 2 ] || bad "expected the x86_64 and aarch64 captures in $DIR, found $found"

echo "arch: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
