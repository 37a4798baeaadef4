#!/bin/sh
# The output suite: what every bbx verb writes for a set of real captures,
# pinned byte for byte, so that a change inside the decoder cannot move an
# output unnoticed. A change to an expected file is a change of behaviour and
# belongs in a commit that says which fix it is.
#
#   tests/outputs/check.sh BBX_BINARY            check every case
#   tests/outputs/check.sh --update BBX_BINARY   rewrite tests/outputs/expected/ from BBX_BINARY;
#                                                then read `git diff tests/outputs` line by line
#
# Inputs: tests/golden/ok/*.bbx (the spec's vectors, format 1.0) and
# tests/outputs/inputs/*.bbx (the demo's captures and the real seeds of the
# convert fuzz corpus, recorded once by tests/outputs/record.sh, stored as
# capture containers). For each input: info, dump, convert to perfetto, chrome
# and otlp, analyze (text, --json, and --all --long-poll 1), and snapshot then
# info of the snapshot. Then merges and filtered runs (the cases below).
# A case is its command's standard output (expected/CASE), its standard error
# (expected/CASE.stderr, absent when empty) and its exit status (expected/CASE.exit,
# absent when 0). Commands run from the top of the tree, so paths in the outputs
# are relative. Then Perfetto's trace_processor loads every expected trace and
# must count no error or data loss (skipped, saying why, when it is absent).
# Prints one line per case, then `outputs: N passed, M failed`.
set -u
update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: $0 [--update] BBX_BINARY" >&2
    exit 2
fi
case $1 in
    /*) bbx=$1 ;;
    *) bbx=$(pwd)/$1 ;;
esac
[ -x "$bbx" ] || { echo "outputs: $1 is not an executable" >&2; exit 2; }
cd "$(dirname "$0")/../.." || exit 2
E=tests/outputs/expected
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$E"

passed=0 failed=0
# case NAME CMD...: runs CMD and compares its stdout, stderr and exit status with expected/NAME*.
case_() {
    name=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $update -eq 1 ]; then
        cp "$tmp/out" "$E/$name"
        if [ -s "$tmp/err" ]; then cp "$tmp/err" "$E/$name.stderr"; else rm -f "$E/$name.stderr"; fi
        if [ $rc -ne 0 ]; then echo "$rc" >"$E/$name.exit"; else rm -f "$E/$name.exit"; fi
    fi
    want_rc=0
    [ -f "$E/$name.exit" ] && want_rc=$(cat "$E/$name.exit")
    : >"$tmp/none"
    want_err=$tmp/none
    [ -f "$E/$name.stderr" ] && want_err=$E/$name.stderr
    if [ ! -f "$E/$name" ]; then
        why="no expected output $E/$name"
    elif [ "$rc" -ne "$want_rc" ]; then
        why="exit $rc, expected $want_rc: $(head -c 200 "$tmp/err")"
    elif ! cmp -s "$tmp/out" "$E/$name"; then
        why="stdout differs from $E/$name ($(cmp "$E/$name" "$tmp/out" 2>&1 | sed 's/^.* differ: //' | head -n 1))"
    elif ! cmp -s "$tmp/err" "$want_err"; then
        why="stderr differs: $(head -c 200 "$tmp/err")"
    else
        why=""
    fi
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        echo "ok   outputs/$name"
    else
        failed=$((failed + 1))
        echo "FAIL outputs/$name: $why"
    fi
    seen="$seen $name "
}
seen=" "

# snapshot_info IN: bbx snapshot IN, then bbx info of the snapshot (named snap.bbx in its info).
snapshot_info() {
    rm -f "$tmp/snap.bbx"
    "$bbx" snapshot "$1" -o "$tmp/snap.bbx" || return $?
    (cd "$tmp" && "$bbx" info snap.bbx)
}

for f in tests/golden/ok/*.bbx tests/outputs/inputs/*.bbx; do
    n=$(basename "$f" .bbx)
    case $f in tests/golden/*) n=golden-$n ;; esac
    case_ "$n.info" "$bbx" info "$f"
    case_ "$n.dump" "$bbx" dump "$f"
    case_ "$n.pftrace" "$bbx" convert "$f" --to perfetto -o -
    case_ "$n.json" "$bbx" convert "$f" --to chrome -o -
    case_ "$n.jsonl" "$bbx" convert "$f" --to otlp -o -
    case_ "$n.analyze" "$bbx" analyze "$f"
    case_ "$n.analyze.json" "$bbx" analyze --json "$f"
    case_ "$n.analyze-1ms" "$bbx" analyze --all --long-poll 1 "$f"
    case_ "$n.snapshot-info" snapshot_info "$f"
done

I=tests/outputs/inputs
G=tests/golden/ok
# bbx merge: the client and server of the demo, then captures without contexts.
for to in perfetto chrome otlp; do
    case_ "merge-rpc.$to" "$bbx" merge --verbose $I/demo-rpc-client.bbx $I/demo-rpc-server.bbx --to $to -o -
done
case_ "merge-rpc-no-correct.chrome" "$bbx" merge --verbose --no-correct $I/demo-rpc-server.bbx $I/demo-rpc-client.bbx --to chrome -o -
case_ "merge-golden.perfetto" "$bbx" merge $G/merge.bbx $G/all_kinds.bbx $G/merge.bbx --to perfetto -o -
case_ "merge-golden.chrome" "$bbx" merge $G/merge.bbx $G/all_kinds.bbx --to chrome -o -
case_ "merge-seeds.otlp" "$bbx" merge --verbose $I/seed-context.bbx $I/seed-crash.bbx $I/seed-args.bbx --to otlp -o -
case_ "merge-seeds.chrome" "$bbx" merge $I/seed-tasks.bbx $I/seed-wrap.bbx --to chrome -o -

# Filters: each verb sees what passes; pairs stay whole; a window carries in what is open.
case_ "filter-task.dump" "$bbx" dump --task 4098,4099 $I/demo-service-deadlock.bbx
case_ "filter-task.chrome" "$bbx" convert --task 4101 $I/demo-service-deadlock.bbx --to chrome -o -
case_ "filter-window.chrome" "$bbx" convert --since 0.5 --until 0.9 $I/demo-service-blocking.bbx --to chrome -o -
case_ "filter-window.perfetto" "$bbx" convert --since 0.5 --until 0.9 $I/demo-service-blocking.bbx --to perfetto -o -
case_ "filter-window.analyze" "$bbx" analyze --since -0.5s $I/demo-service-blocking.bbx
case_ "filter-window.info" "$bbx" info --since 0.3 --until 0.6 $I/demo-service-fixed.bbx
case_ "filter-thread.perfetto" "$bbx" convert --thread worker-1 --level info $I/demo-pipeline.bbx --to perfetto -o -
case_ "filter-name.dump" "$bbx" dump --category io --name '^write' $I/demo-pipeline.bbx
case_ "filter-user-only.chrome" "$bbx" convert --user-only $I/seed-tasks.bbx --to chrome -o -
case_ "filter-category.otlp" "$bbx" convert --category 'http,rpc' $I/seed-context.bbx --to otlp -o -
case_ "filter-wrap.analyze.json" "$bbx" analyze --json --task 1 $I/seed-wrap.bbx
case_ "filter-window.otlp" "$bbx" convert --since 0.00005 $I/seed-context.bbx --to otlp -o -
case_ "filter-merge.chrome" "$bbx" merge --thread rpc_peer --name call $I/demo-rpc-client.bbx $I/demo-rpc-server.bbx --to chrome -o -

# Perfetto's own reader loads every expected trace (.pftrace, .json but not
# analyze's, and the merges) with no error or data-loss statistic, the way
# ui.perfetto.dev would load them. Skipped, with the reason, when
# ../shared/tools/trace_processor (or $BBX_TRACE_PROCESSOR) is absent.
tp=${BBX_TRACE_PROCESSOR:-../shared/tools/trace_processor}
skipped=""
if [ ! -x "$tp" ]; then
    skipped="skip outputs/trace_processor: $tp is absent (set BBX_TRACE_PROCESSOR to Perfetto's trace_processor_shell)"
elif ! "$tp" --version >"$tmp/tp" 2>&1; then
    skipped="skip outputs/trace_processor: $tp does not run: $(head -c 200 "$tmp/tp" | tr '\n' ' ')"
else
    for e in "$E"/*.pftrace "$E"/*.json "$E"/*.perfetto "$E"/*.chrome; do
        case $e in *.analyze.json) continue ;; esac
        [ -s "$e" ] && [ ! -f "$e.exit" ] && echo "$e"
    done >"$tmp/traces"
    # One line per trace: "ok NAME" or "FAIL NAME: WHY", two at a time.
    TP=$tp T=$tmp SQL="select name, idx, severity, source, value from stats where value > 0 and severity in ('error', 'data_loss')" \
    xargs -P 2 -n 1 sh -c '
        r=$T/$(basename "$1").tp
        if ! "$TP" query "$1" "$SQL" >"$r" 2>"$r.err"; then
            echo "FAIL $(basename "$1"): trace_processor failed: $(tail -n 2 "$r.err" | tr "\n" " ")"
            exit 0
        fi
        rows=$(tail -n +2 "$r" | tr "\n" " ")
        if [ -n "$rows" ]; then echo "FAIL $(basename "$1"): $rows"; else echo "ok $(basename "$1")"; fi
    ' sh <"$tmp/traces" >"$tmp/tp-results"
    while read -r verdict rest; do
        if [ "$verdict" = ok ]; then
            passed=$((passed + 1))
            echo "ok   outputs/trace_processor/$rest"
        else
            failed=$((failed + 1))
            echo "FAIL outputs/trace_processor/$rest"
        fi
    done <"$tmp/tp-results"
fi

# An expected file no case wrote is a case lost.
for e in "$E"/*; do
    b=$(basename "$e")
    b=${b%.stderr}
    b=${b%.exit}
    case $seen in *" $b "*) ;; *)
        if [ $update -eq 1 ]; then rm -f "$e"; else failed=$((failed + 1)); echo "FAIL outputs/$b: $e belongs to no case"; fi ;;
    esac
done

[ -n "$skipped" ] && echo "$skipped"  # next to the summary, where tests/run.sh shows it
printf 'outputs: %d passed, %d failed\n' "$passed" "$failed"
[ $failed -eq 0 ]
