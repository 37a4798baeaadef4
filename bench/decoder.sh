#!/bin/sh
# bench/decoder.sh BUILD_DIR [--events N] [--reps R] [--smoke]
#
# The decoder's speed: BUILD_DIR/bench/gen_capture writes a capture of N
# events (default 10 million; mixed kinds, 4 threads, the real recorder, rings
# large enough that nothing is overwritten), then each bbx verb reads it R
# times (default 3) with its output thrown away. Reported per verb: the median
# wall time, events/s, and the peak resident memory over the runs
# (/usr/bin/time's "maximum resident set size"), against the targets. Then the
# bytes per event of the raw ring and of the Perfetto and Chrome outputs.
# Verbs the tool does not have yet are reported as "not yet".
#
# Exit status: 1 if the capture could not be made or a verb failed; a missed
# target never fails (the numbers depend on the machine).
B=${1:-build}
[ $# -gt 0 ] && shift
events=10000000
reps=3
smoke=""
while [ $# -gt 0 ]; do
    case $1 in
        --events) events=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        --smoke) smoke=1; events=20000; reps=1; shift ;;
        *) echo "usage: bench/decoder.sh BUILD_DIR [--events N] [--reps R] [--smoke]" >&2; exit 2 ;;
    esac
done
bbx=$B/bbx
gen=$B/bench/gen_capture
for f in "$bbx" "$gen"; do
    [ -x "$f" ] || { echo "decoder.sh: $f is not built (make -f bench/bench.mk B=$B build, and make)" >&2; exit 1; }
done
timer=""
[ -x /usr/bin/time ] && timer=/usr/bin/time

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bbx-bench-decoder.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
cap=$tmp/capture.bbx
failed=0

echo "blackbox decoder: bbx over one capture${smoke:+   [--smoke: a tiny run, the numbers mean nothing]}"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cpus"
echo "command:  sh bench/decoder.sh $B --events $events --reps $reps"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min: other work on the machine slows the wall times; the cpu column is less affected)"
echo "tool:     $bbx ($(ls -l --time-style=+%Y-%m-%dT%H:%M "$bbx" | awk '{ print $6 }'))"
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

# median of the numbers on standard input
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# has_verb VERB: the tool knows VERB (an unknown verb exits 2 with "unknown verb")
has_verb() { ! "$bbx" "$1" --help 2>&1 | grep -q "unknown verb"; }

printf '%-34s %5s %9s %11s %9s %6s %9s %9s %10s %6s\n' "verb (output thrown away)" runs "median s" "M events/s" target "" \
    "cpu s" "M ev/cpu-s" "peak MiB" "x capture"
printf '%s\n' "----------------------------------------------------------------------------------------------------------------------------"

# row NAME TARGET_M_EVENTS_PER_S CMD...: runs CMD $reps times, prints one row.
row() {
    name=$1 target=$2
    shift 2
    : >"$tmp/times"
    : >"$tmp/cpus"
    peak=0
    r=0
    while [ $r -lt "$reps" ]; do
        t0=$(date +%s%N)
        if [ -n "$timer" ]; then
            $timer -f '%M %U %S' -o "$tmp/mem" "$@" >/dev/null 2>"$tmp/err"
        else
            "$@" >/dev/null 2>"$tmp/err"
        fi
        rc=$?
        t1=$(date +%s%N)
        if [ $rc -ne 0 ]; then
            printf '%-34s FAIL: exit %s\n' "$name" "$rc"
            sed 's/^/    /' "$tmp/err" | head -n 5
            failed=1
            return
        fi
        echo $((t1 - t0)) >>"$tmp/times"
        if [ -n "$timer" ]; then
            tail -n 1 "$tmp/mem" >"$tmp/mem1"
            read -r m u k <"$tmp/mem1"
            [ "$m" -gt "$peak" ] && peak=$m
            awk -v u="$u" -v k="$k" 'BEGIN { print u + k }' >>"$tmp/cpus"
        fi
        r=$((r + 1))
    done
    med=$(median <"$tmp/times")
    cpu=$( [ -s "$tmp/cpus" ] && median <"$tmp/cpus" || echo 0)
    awk -v name="$name" -v runs="$reps" -v ns="$med" -v cpu="$cpu" -v n="$n" -v target="$target" -v kb="$peak" \
        -v size="$file_bytes" -v timed="$timer" 'BEGIN {
        s = ns / 1e9; rate = n / s / 1e6
        verdict = target == "" ? "" : (rate >= target ? "PASS" : "MISS")
        tgt = target == "" ? "-" : ">= " target
        mib = kb / 1024; x = kb * 1024 / size
        if (timed == "") printf "%-34s %5d %9.3f %11.1f %9s %6s %9s %9s %10s %6s\n", name, runs, s, rate, tgt, verdict, "-", "-", "-", ""
        else printf "%-34s %5d %9.3f %11.1f %9s %6s %9.2f %9.1f %10.1f %6.2f %s\n", name, runs, s, rate, tgt, verdict, cpu,
                    (cpu > 0 ? n / cpu / 1e6 : 0), mib, x, (x < 2 ? "PASS" : "MISS")
    }'
}

row "bbx info (the read pass)" "" "$bbx" info "$cap"
row "bbx dump" "" "$bbx" dump "$cap"
row "bbx convert --to perfetto -o -" 20 "$bbx" convert "$cap" --to perfetto -o -
row "bbx convert --to chrome -o -" 5 "$bbx" convert "$cap" --to chrome -o -
if has_verb analyze; then
    row "bbx analyze" 50 "$bbx" analyze "$cap"
else
    printf '%-34s not yet (bbx has no analyze verb)\n' "bbx analyze"
fi
if has_verb snapshot; then
    row "bbx snapshot" "" "$bbx" snapshot "$cap" -o "$tmp/snapshot.out"
    rm -f "$tmp/snapshot.out"
else
    printf '%-34s not yet (bbx has no snapshot verb: a later issue)\n' "bbx snapshot (LZ4)"
fi
echo
echo "targets: analyze >= 50, Perfetto >= 20, Chrome >= 5 M events/s (wall time); peak resident memory under 2x the"
echo "capture ($file_bytes bytes; 'x capture' = the peak over the file size). Medians of $reps runs; 'cpu s' is user +"
echo "system time (/usr/bin/time, 10 ms resolution) and 'M ev/cpu-s' the events per cpu second."

# Bytes per event on disk, the same events in each form.
perfetto_bytes=$("$bbx" convert "$cap" --to perfetto -o - 2>/dev/null | wc -c)
chrome_bytes=$("$bbx" convert "$cap" --to chrome -o - 2>/dev/null | wc -c)
echo
printf '%-44s %14s %12s\n' "bytes per event ($n events)" bytes bytes/event
printf '%s\n' "------------------------------------------------------------------------"
awk -v n="$n" -v raw="$raw" -v file="$file_bytes" -v pf="$perfetto_bytes" -v ch="$chrome_bytes" 'BEGIN {
    printf "%-44s %14.0f %12.2f\n", "raw ring (slots used x 32)", raw * n, raw
    printf "%-44s %14d %12.2f\n", "capture file (rings sized to fit, + header)", file, file / n
    printf "%-44s %14d %12.2f\n", "Perfetto protobuf (bbx convert --to perfetto)", pf, pf / n
    printf "%-44s %14d %12.2f\n", "Chrome JSON (bbx convert --to chrome)", ch, ch / n
}'
printf '%-44s %14s %12s\n' "LZ4 capture (bbx snapshot)" "not yet" "-"
[ "$perfetto_bytes" -gt 0 ] && [ "$chrome_bytes" -gt 0 ] || { echo "FAIL: a conversion wrote nothing"; failed=1; }
exit $failed
