#!/bin/sh
# bench/decoder.sh BUILD_DIR [--events N] [--reps R] [--baseline DIR] [--smoke]
#
# The decoder's speed, as ratios to its floor measured in the same run.
# BUILD_DIR/bench/gen_capture writes a capture of N events (default 10
# million; mixed kinds, 4 threads, the real recorder, rings large enough that
# nothing is overwritten). Then, R rounds (default 3), each case once per
# round with its output thrown away: first the read pass alone
# (BUILD_DIR/bench/read_pass: open, read every event, count), then each bbx
# verb. Rounds interleave the cases, so a busy moment on a shared machine
# slows every case of that round, not one. Reported per case: the median wall
# time and its ratio to the read pass's median (the column to compare across
# machines: absolute rates differ by CPU), the median cpu time (user + system)
# and its ratio, events/s, and the peak resident memory over the rounds
# (/usr/bin/time) against the capture's size. Then the bytes per event of the
# ring and of each output.
#
# --baseline DIR runs DIR/bbx and DIR/bench/read_pass (another build, e.g. of
# the commit before a change) in the same rounds, each case right after this
# build's: the two columns of ratios are then measured in the same conditions.
#
# Exit status: 1 if the capture could not be made or a case failed; the
# numbers never fail it (they depend on the machine).
B=${1:-build}
[ $# -gt 0 ] && shift
events=10000000
reps=3
smoke=""
baseline=""
while [ $# -gt 0 ]; do
    case $1 in
        --events) events=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --baseline) baseline=$2; shift 2 ;;
        --smoke) smoke=1; events=20000; reps=1; shift ;;
        *) echo "usage: bench/decoder.sh BUILD_DIR [--events N] [--reps R] [--baseline DIR] [--smoke]" >&2; exit 2 ;;
    esac
done
gen=$B/bench/gen_capture
builds="$B"
[ -n "$baseline" ] && builds="$B $baseline"
for d in $builds; do
    for f in "$d/bbx" "$d/bench/read_pass"; do
        [ -x "$f" ] || { echo "decoder.sh: $f is not built (make -f bench/bench.mk B=$d build, and make)" >&2; exit 1; }
    done
done
[ -x "$gen" ] || { echo "decoder.sh: $gen is not built (make -f bench/bench.mk B=$B build)" >&2; exit 1; }
timer=""
[ -x /usr/bin/time ] && timer=/usr/bin/time

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbx-bench-decoder.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
cap=$tmp/capture.bbx
failed=0

echo "blackbox decoder: bbx over one capture${smoke:+   [--smoke: a tiny run, the numbers mean nothing]}"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cpus"
echo "command:  sh bench/decoder.sh $B --events $events --reps $reps${baseline:+ --baseline $baseline}"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min: other work on the machine slows the wall times; the cpu column is less affected)"
for d in $builds; do
    echo "tool:     $d/bbx ($(ls -l --time-style=+%Y-%m-%dT%H:%M "$d/bbx" | awk '{ print $6 }'))"
done
if ! "$gen" --out "$cap" --events "$events" --threads 4 >"$tmp/gen.txt" 2>&1; then
    echo "FAIL gen_capture:"
    sed 's/^/    /' "$tmp/gen.txt"
    exit 1
fi
sed 's/^/gen:      /' "$tmp/gen.txt"
n=$(sed -n 's/^events: \([0-9]*\),.*/\1/p' "$tmp/gen.txt")
raw=$(sed -n 's/^raw bytes\/event: \([0-9.]*\).*/\1/p' "$tmp/gen.txt")
file_bytes=$(stat -c %s "$cap")
echo

# The cases: a name, then the command with BBX standing for the build's bbx
# and READ for its read_pass. The first is the floor.
cases="read info dump perfetto chrome otlp analyze analyze-json snapshot"
label() {
    case $1 in
        read) echo "read pass (bench/read_pass)" ;;
        info) echo "bbx info" ;;
        dump) echo "bbx dump" ;;
        perfetto) echo "bbx convert --to perfetto" ;;
        chrome) echo "bbx convert --to chrome" ;;
        otlp) echo "bbx convert --to otlp" ;;
        analyze) echo "bbx analyze" ;;
        analyze-json) echo "bbx analyze --json" ;;
        snapshot) echo "bbx snapshot -o FILE" ;;
    esac
}
# run_case CASE DIR KEY: runs it once, appends its wall ns, cpu s and peak KiB to $tmp/CASE.KEY.*
# (POSIX sh has no local variables: the names here are used nowhere else.)
run_case() {
    c=$1 d=$2 key=$3
    bbx=$d/bbx
    case $c in
        read) set -- "$d/bench/read_pass" "$cap" ;;
        info) set -- "$bbx" info "$cap" ;;
        dump) set -- "$bbx" dump "$cap" ;;
        perfetto) set -- "$bbx" convert "$cap" --to perfetto -o - ;;
        chrome) set -- "$bbx" convert "$cap" --to chrome -o - ;;
        otlp) set -- "$bbx" convert "$cap" --to otlp -o - ;;
        analyze) set -- "$bbx" analyze "$cap" ;;
        analyze-json) set -- "$bbx" analyze --json "$cap" ;;
        # A file each time: bbx snapshot never overwrites one.
        snapshot) rm -f "$tmp/snapshot.out"; set -- "$bbx" snapshot "$cap" -o "$tmp/snapshot.out" ;;
    esac
    t0=$(date +%s%N)
    if [ -n "$timer" ]; then
        $timer -f '%M %U %S' -o "$tmp/mem" "$@" >/dev/null 2>"$tmp/err"
    else
        "$@" >/dev/null 2>"$tmp/err"
    fi
    rc=$?
    t1=$(date +%s%N)
    if [ $rc -ne 0 ]; then
        echo "FAIL $(label "$c") ($d): exit $rc"
        sed 's/^/    /' "$tmp/err" | head -n 5
        echo fail >"$tmp/$c.$key.failed"
        failed=1
        return
    fi
    echo $((t1 - t0)) >>"$tmp/$c.$key.wall"
    if [ -n "$timer" ]; then
        tail -n 1 "$tmp/mem" >"$tmp/mem1"
        read -r rss_kb user_s sys_s <"$tmp/mem1"
        echo "$rss_kb" >>"$tmp/$c.$key.peak"
        awk -v u="$user_s" -v s="$sys_s" 'BEGIN { print u + s }' >>"$tmp/$c.$key.cpu"
    fi
}

# median of the numbers on standard input
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
maximum() { sort -n | tail -n 1; }

r=0
while [ $r -lt "$reps" ]; do
    for c in $cases; do
        k=0
        for d in $builds; do
            run_case "$c" "$d" "b$k"
            k=$((k + 1))
        done
    done
    r=$((r + 1))
done

printf '%-28s %-14s %9s %8s %9s %8s %11s %9s %9s\n' "case (output thrown away)" build "median s" "x read" "cpu s" "x read" "M events/s" "peak MiB" "x capture"
printf '%s\n' "--------------------------------------------------------------------------------------------------------------"
for c in $cases; do
    k=0
    for d in $builds; do
        key=b$k
        k=$((k + 1))
        if [ -f "$tmp/$c.$key.failed" ] || [ ! -s "$tmp/$c.$key.wall" ]; then
            printf '%-28s %-14s FAIL\n' "$(label "$c")" "$d"
            continue
        fi
        wall=$(median <"$tmp/$c.$key.wall")
        read_wall=$(median <"$tmp/read.$key.wall")
        cpu=0 read_cpu=0 peak=0
        if [ -n "$timer" ]; then
            cpu=$(median <"$tmp/$c.$key.cpu")
            read_cpu=$(median <"$tmp/read.$key.cpu")
            peak=$(maximum <"$tmp/$c.$key.peak")
        fi
        awk -v name="$(label "$c")" -v build="$d" -v ns="$wall" -v rns="$read_wall" -v cpu="$cpu" -v rcpu="$read_cpu" \
            -v n="$n" -v kb="$peak" -v size="$file_bytes" -v timed="$timer" 'BEGIN {
            s = ns / 1e9
            printf "%-28s %-14s %9.3f %8.2f ", name, build, s, (rns > 0 ? ns / rns : 0)
            if (timed == "") printf "%9s %8s ", "-", "-"
            else printf "%9.2f %8s ", cpu, (rcpu > 0 ? sprintf("%.2f", cpu / rcpu) : "-")
            printf "%11.1f ", n / s / 1e6
            if (timed == "") printf "%9s %9s\n", "-", "-"
            else printf "%9.1f %9.2f\n", kb / 1024, kb * 1024 / size
        }'
    done
done
echo
echo "Medians of $reps rounds; 'x read' = the case's median over the read pass's median, wall time then cpu time"
echo "(user + system, /usr/bin/time, 10 ms resolution); peak = the largest resident set of the rounds, and"
echo "'x capture' that over the capture's $file_bytes bytes (the decoder's memory should stay under 2x)."

# Bytes per event on disk, the same events in each form (this build's bbx).
bbx=$B/bbx
perfetto_bytes=$("$bbx" convert "$cap" --to perfetto -o - 2>/dev/null | wc -c)
chrome_bytes=$("$bbx" convert "$cap" --to chrome -o - 2>/dev/null | wc -c)
otlp_bytes=$("$bbx" convert "$cap" --to otlp -o - 2>/dev/null | wc -c)
rm -f "$tmp/snapshot.out"
"$bbx" snapshot "$cap" -o "$tmp/snapshot.out" 2>/dev/null
lz4_bytes=$(stat -c %s "$tmp/snapshot.out" 2>/dev/null || echo 0)
echo
printf '%-44s %14s %12s\n' "bytes per event ($n events)" bytes bytes/event
printf '%s\n' "------------------------------------------------------------------------"
awk -v n="$n" -v raw="$raw" -v file="$file_bytes" -v pf="$perfetto_bytes" -v ch="$chrome_bytes" -v ot="$otlp_bytes" \
    -v lz="$lz4_bytes" 'BEGIN {
    printf "%-44s %14.0f %12.2f\n", "raw ring (slots used x 16)", raw * n, raw
    printf "%-44s %14d %12.2f\n", "capture file (rings sized to fit, + header)", file, file / n
    printf "%-44s %14d %12.2f\n", "LZ4 capture (bbx snapshot)", lz, lz / n
    printf "%-44s %14d %12.2f\n", "Perfetto protobuf (bbx convert --to perfetto)", pf, pf / n
    printf "%-44s %14d %12.2f\n", "Chrome JSON (bbx convert --to chrome)", ch, ch / n
    printf "%-44s %14d %12.2f\n", "OTLP/JSON Lines (bbx convert --to otlp)", ot, ot / n
}'
[ "$perfetto_bytes" -gt 0 ] && [ "$chrome_bytes" -gt 0 ] && [ "$lz4_bytes" -gt 0 ] || { echo "FAIL: a conversion wrote nothing"; failed=1; }
exit $failed
