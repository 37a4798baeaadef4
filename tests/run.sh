#!/bin/sh
# Runs the test suites and adds up their results. The last line is
# "N passed, M failed" over all suites; exit 1 if anything failed or a suite
# could not report (a crash or a missing summary counts as one failure).
#   tests/run.sh BUILD_DIR [unit|golden|outputs|hostile|gating|cli|top|fuzz-replay|bench-smoke|arch|install]...
B=${1:-build}
shift
suites=${*:-"unit golden outputs hostile gating cli top fuzz-replay bench-smoke arch install"}
total_pass=0 total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# add SUITE: reads the suite's output in $log; doctest's summary or a
# "NAME: N passed, M failed" line.
add() {
    line=$(grep -E '^\[doctest\] test cases:' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/.*\| *([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.*\| *([0-9]+) failed.*/\1/')
    else
        line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
        p=$(echo "$line" | sed -E 's/^[a-z-]+: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    fi
    if [ -z "$line" ]; then
        echo "FAIL $1: ended without a summary (exit $2)"
        p=0 f=1
    elif [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $1: exit $2 with no failed test counted"
        f=1
    fi
    echo "-- $1: $p passed, $f failed"
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}

for s in $suites; do
    echo "== $s"
    case $s in
        unit) "$B/tests/unit" >"$log" 2>&1 ;;
        golden) sh tests/golden/check.sh "$B/bbx" >"$log" 2>&1 ;;
        outputs) sh tests/outputs/check.sh "$B/bbx" >"$log" 2>&1 ;;
        hostile) "$B/tests/hostile" "$B/bbx" >"$log" 2>&1 ;;
        gating) sh tests/gating.sh >"$log" 2>&1 ;;
        cli) sh tests/cli.sh "$B/bbx" >"$log" 2>&1 ;;
        top) sh tests/top.sh "$B/bbx" >"$log" 2>&1 ;;
        fuzz-replay) make --no-print-directory -f fuzz/fuzz.mk B="$B" replay >"$log" 2>&1 ;;
        bench-smoke) make --no-print-directory -f bench/bench.mk B="$B" smoke >"$log" 2>&1 ;;
        arch) sh tests/arch/check.sh "$B/bbx" >"$log" 2>&1 ;;
        install) sh tests/install.sh "$B" >"$log" 2>&1 ;;
        *) echo "unknown suite $s" >"$log"; false ;;
    esac
    rc=$?
    # Show failures in full, and the tail of a passing suite.
    if [ $rc -ne 0 ]; then cat "$log"; else grep -E '^(FAIL|ERROR)' "$log"; tail -n 2 "$log"; fi
    add "$s" $rc
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
