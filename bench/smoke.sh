#!/bin/sh
# bench/smoke.sh BUILD_DIR: every benchmark binary on a tiny count, each
# checking what it recorded (the numbers mean nothing). One line per binary,
# its output in full when it fails; the last line is
# "bench-smoke: N passed, M failed". Exit 1 if any failed.
B=${1:-build}
pass=0
fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# check NAME CMD...: runs CMD, counts it.
check() {
    name=$1
    shift
    start=$(date +%s%N)
    "$@" >"$log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    if [ $rc -eq 0 ]; then
        echo "ok   $name (${ms} ms)"
        pass=$((pass + 1))
    else
        echo "FAIL $name: exit $rc (${ms} ms); its output:"
        sed 's/^/    /' "$log"
        fail=$((fail + 1))
    fi
}

# hot_path: blackbox's cases and the spdlog peer (if built); LTTng needs a session, so not here.
check "hot_path --smoke" "$B/bench/hot_path" --smoke
check "hot_path_shared --smoke (libbbx_recorder.so)" "$B/bench/hot_path_shared" --smoke --no-peers
check "footprint --smoke" "$B/bench/footprint" --smoke
check "stall_watchdog --smoke" "$B/bench/stall_watchdog" --smoke
# gen_capture, then every bbx verb over its capture.
check "decoder.sh --smoke (gen_capture + bbx)" sh bench/decoder.sh "$B" --smoke
check "top_refresh --smoke" "$B/bench/top_refresh" --smoke
echo "bench-smoke: $pass passed, $fail failed"
[ $fail -eq 0 ]
