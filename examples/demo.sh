#!/bin/sh
# make demo: record a real multi-threaded workload, then look at it with bbx.
set -eu
B=${1:-build}
OUT=demo-out
mkdir -p "$OUT"
rm -f "$OUT/pipeline.bbx"   # ours from an earlier run; the recorder never overwrites a file itself

echo "== recording: $B/examples/pipeline (a reader, 3 compressing workers, a writer)"
"$B/examples/pipeline" --out "$OUT/pipeline.bbx" --blocks 3000

echo
echo "== bbx info $OUT/pipeline.bbx"
"$B/bbx" info "$OUT/pipeline.bbx"

echo
echo "== the last events, from bbx dump"
"$B/bbx" dump "$OUT/pipeline.bbx" | tail -n 8

echo
echo "== converting"
"$B/bbx" convert "$OUT/pipeline.bbx" --to perfetto -o "$OUT/pipeline.pftrace"
"$B/bbx" convert "$OUT/pipeline.bbx" --to chrome -o "$OUT/pipeline.json"
ls -l "$OUT/pipeline.bbx" "$OUT/pipeline.pftrace" "$OUT/pipeline.json" | awk '{print "  " $5 " bytes  " $9}'

cat <<MSG

Open the traces:
  $OUT/pipeline.pftrace  in https://ui.perfetto.dev  (Open trace file)
  $OUT/pipeline.json     in chrome://tracing, or ui.perfetto.dev
MSG
