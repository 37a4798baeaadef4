#!/bin/sh
# make demo: record an async service three times -- with a blocking call on
# its executor, with a deadlock, and fixed -- and let bbx find what went
# wrong; then a short multi-threaded pipeline. Everything lands in demo-out/.
#   sh examples/demo.sh BUILD_DIR
set -eu
B=${1:-build}
OUT=demo-out
SERVICE="$B/examples/async/service"
BBX="$B/bbx"
mkdir -p "$OUT"
# Ours from an earlier run: the recorder never overwrites a file itself.
for m in blocking deadlock fixed; do
    rm -f "$OUT/service-$m.bbx" "$OUT/service-$m.pftrace" "$OUT/service-$m.json"
done
rm -f "$OUT/pipeline.bbx" "$OUT/pipeline.pftrace" "$OUT/pipeline.json"

# bbx analyze when this bbx has it; otherwise the task events from bbx dump.
analyze() {
    if "$BBX" analyze --help >/dev/null 2>&1; then
        "$BBX" analyze "$1"
    else
        echo "(this bbx has no 'analyze' verb yet: the poll and wait events from bbx dump instead)"
        "$BBX" dump "$1" | grep -E 'poll_end|wait_begin|stalled' | grep -v heartbeat | tail -n 12
    fi
}

section() {
    echo
    echo "== $*"
}

echo "An async service (examples/async/README.md): a gateway task feeds requests to two"
echo "worker tasks over a bounded channel; each worker decompresses a 64 MiB body and"
echo "passes a reply on; pipe_a and pipe_b exchange the replies and acks over two"
echo "capacity-1 channels. One executor thread runs every task."

section "1/3  service --mode blocking: the workers decompress on the executor thread"
"$SERVICE" --mode blocking --out "$OUT/service-blocking.bbx"
section "bbx analyze $OUT/service-blocking.bbx"
analyze "$OUT/service-blocking.bbx"
echo
echo "-> A worker's poll runs for hundreds of milliseconds inside 'decompress', and every"
echo "   task woken meanwhile (the heartbeat too) waits for it. The fix: offload the"
echo "   decompression to the blocking pool (co_await ex.offload(...))."

section "2/3  service --mode deadlock: offloaded now, but pipe_b sends its acks before it reads"
"$SERVICE" --mode deadlock --out "$OUT/service-deadlock.bbx"
section "bbx analyze $OUT/service-deadlock.bbx"
analyze "$OUT/service-deadlock.bbx"
echo
echo "-> No more long polls, but pipe_a and pipe_b each wait to send on a full channel"
echo "   that only the other drains: a cycle, shown with both co_await lines. The fix:"
echo "   one order for both ends (pipe_b reads the batch, then acks)."

section "3/3  service --mode fixed: offloaded, and one order on the pipes"
"$SERVICE" --mode fixed --out "$OUT/service-fixed.bbx"
section "bbx analyze $OUT/service-fixed.bbx"
analyze "$OUT/service-fixed.bbx"

section "bbx info $OUT/service-deadlock.bbx"
"$BBX" info "$OUT/service-deadlock.bbx"

section "a thread-based workload: $B/examples/pipeline (a reader, 3 compressing workers, a writer)"
"$B/examples/pipeline" --out "$OUT/pipeline.bbx" --blocks 500

section "converting"
for f in service-blocking service-deadlock service-fixed pipeline; do
    "$BBX" convert "$OUT/$f.bbx" --to perfetto -o "$OUT/$f.pftrace"
    "$BBX" convert "$OUT/$f.bbx" --to chrome -o "$OUT/$f.json"
done
for f in service-blocking service-deadlock service-fixed pipeline; do
    ls -l "$OUT/$f.bbx" "$OUT/$f.pftrace" "$OUT/$f.json"
done | awk '{printf "  %9d bytes  %s\n", $5, $9}'

cat <<MSG

Open the traces:
  $OUT/*.pftrace  in https://ui.perfetto.dev  (Open trace file)
  $OUT/*.json     in chrome://tracing, or ui.perfetto.dev
  e.g. $OUT/service-blocking.pftrace: the exec-0 thread runs long 'decompress'
  spans, and the heartbeat_late_us counter climbs while they run.
Read a capture yourself: $BBX dump $OUT/service-deadlock.bbx | grep -E 'wait|poll_end'
MSG
