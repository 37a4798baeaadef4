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
# BBX_STALL_MS=20: a poll running past 20 ms gets its native stack sampled (stall stacks).
BBX_STALL_MS=20 "$SERVICE" --mode blocking --out "$OUT/service-blocking.bbx"
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

section "across services: a client calls a second service over TCP on 127.0.0.1, passing traceparent"
# tests/programs/rpc_peer.cpp: the server handles each request in a span with a
# server context whose parent is the client's span; request 3 (and 11) take its slow path.
rm -f "$OUT/rpc-client.bbx" "$OUT/rpc-server.bbx" "$OUT/rpc-port" "$OUT/rpc-merged."*
"$B/tests/rpc_peer" server "$OUT/rpc-port" "$OUT/rpc-server.bbx" >/dev/null &
SERVER=$!
i=0
while [ ! -s "$OUT/rpc-port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$B/tests/rpc_peer" client "$(cat "$OUT/rpc-port")" "$OUT/rpc-client.bbx" 16 >/dev/null
wait $SERVER
section "bbx merge --verbose $OUT/rpc-client.bbx $OUT/rpc-server.bbx --to perfetto"
"$BBX" merge --verbose "$OUT/rpc-client.bbx" "$OUT/rpc-server.bbx" --to perfetto -o "$OUT/rpc-merged.pftrace"
"$BBX" merge "$OUT/rpc-client.bbx" "$OUT/rpc-server.bbx" --to chrome -o "$OUT/rpc-merged.json"
"$BBX" merge "$OUT/rpc-client.bbx" "$OUT/rpc-server.bbx" --to otlp -o "$OUT/rpc-merged.jsonl"
echo
echo "The slowest calls, from the client's capture, and where their time went in the server's:"
"$BBX" dump "$OUT/rpc-client.bbx" --name '^call$' | awk '
    $3 == "begin" { split($6, a, "="); open[$2] = a[2]; start[a[2]] = $1 }
    $3 == "end"   { s = open[$2]; d[s] = ($1 - start[s]) * 1000 }
    END { for (s in d) printf "%s %.1f\n", s, d[s] }' | sort -k2 -n -r | head -n 3 |
while read -r seq ms; do
    where=$("$BBX" dump "$OUT/rpc-server.bbx" --name '_path$' | grep "request=$seq\$" | awk '{print $5}' | head -n 1)
    echo "  request $seq: $ms ms in the client's call; the server spent it in backend/$where"
done
echo "-> On the merged timeline ($OUT/rpc-merged.pftrace) each call has an arrow to the"
echo "   server span it caused; requests 3 and 11 sit in the second service's slow_path."

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
  $OUT/rpc-merged.jsonl  OTLP/JSON Lines, for the OpenTelemetry Collector (otlpjsonfile receiver)
  e.g. $OUT/service-blocking.pftrace: the exec-0 thread runs long 'decompress'
  spans, and the heartbeat_late_us counter climbs while they run.
Read a capture yourself: $BBX dump $OUT/service-deadlock.bbx | grep -E 'wait|poll_end'
MSG
