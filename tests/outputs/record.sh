#!/bin/sh
# Records the inputs of the output suite (tests/outputs/check.sh) again. Run it
# by hand, never from `make test`: the demo's captures depend on timing (each
# run differs), which is why they are recorded once and checked in.
#
#   sh tests/outputs/record.sh BUILD_DIR
#
# What it writes into tests/outputs/inputs/, each as a capture container
# (bbx snapshot --level 12, a few KiB):
#   demo-service-{blocking,deadlock,fixed}.bbx  examples/async/service in each mode (make demo)
#   demo-pipeline.bbx                           examples/pipeline --blocks 20
#   demo-rpc-client.bbx, demo-rpc-server.bbx    tests/programs/rpc_peer, 8 requests (bbx merge)
#   seed-{args,tasks,context,crash,wrap,discard}.bbx
#                                               the real-* captures of the convert fuzz corpus
#                                               (fuzz/make_seeds.cpp): hostile strings, tasks with
#                                               waits, trace contexts, a crash record, an overwritten
#                                               ring, a full ring in discard mode
# Then regenerate the expected outputs (check.sh --update) and read every line of
# `git diff tests/outputs` before committing: a new input is a new baseline.
set -eu
B=${1:-build}
BBX=$B/bbx
IN=tests/outputs/inputs
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$IN"

pack() {  # pack RING_FILE NAME
    rm -f "$IN/$2.bbx"
    "$BBX" snapshot --level 12 "$1" -o "$IN/$2.bbx"
}

for m in blocking deadlock fixed; do
    "$B/examples/async/service" --mode $m --out "$T/service-$m.bbx" >/dev/null
    pack "$T/service-$m.bbx" demo-service-$m
done
"$B/examples/pipeline" --out "$T/pipeline.bbx" --blocks 20 >/dev/null
pack "$T/pipeline.bbx" demo-pipeline

"$B/tests/rpc_peer" server "$T/rpc-port" "$T/rpc-server.bbx" >/dev/null &
server=$!
i=0
while [ ! -s "$T/rpc-port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$B/tests/rpc_peer" client "$(cat "$T/rpc-port")" "$T/rpc-client.bbx" 8 >/dev/null
wait $server
pack "$T/rpc-client.bbx" demo-rpc-client
pack "$T/rpc-server.bbx" demo-rpc-server

# The convert seeds are a selector byte followed by the ring file.
for s in args tasks context crash wrap discard; do
    tail -c +2 "fuzz/corpus/convert/real-$s-info" >"$T/seed-$s.bbx"
    pack "$T/seed-$s.bbx" seed-$s
done
ls -l "$IN"
