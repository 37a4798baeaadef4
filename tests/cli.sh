#!/bin/sh
# The bbx command line: help texts (pinned in tests/expected/), exit codes,
# error messages, stdin and output handling. Prints "cli: N passed, M failed".
BBX=${1:-build/bbx}
EXAMPLES=$(dirname "$BBX")/examples
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   cli: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL cli: $1"; }
# expect_exit CODE NAME CMD...: runs CMD, stdout to $T/out, stderr to $T/err
expect_exit() {
    want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"; else bad "$what: exit $got, expected $want; stderr: $(head -c 300 "$T/err")"; fi
}

# events_only: a dump's last line states the losses ("# losses: ..."); checks
# it is there and leaves only the event lines in $T/out.
events_only() {
    if tail -n 1 "$T/out" | grep -q '^# losses: '; then sed -i '$d' "$T/out"
    else bad "dump's last line is not '# losses: ...': $(tail -n 1 "$T/out")"; fi
}

for verb in "" info dump convert analyze merge snapshot top; do
    name=${verb:-main}
    expect_exit 0 "bbx $verb --help" $BBX $verb --help
    if cmp -s "$T/out" "tests/expected/help-$name.txt"; then ok "help text of '$name' as pinned"
    else bad "help text of '$name' differs from tests/expected/help-$name.txt: $(diff "$T/out" "tests/expected/help-$name.txt" | head -5 | tr '\n' ' ')"; fi
done

expect_exit 2 "no verb" $BBX
expect_exit 2 "unknown verb" $BBX frobnicate x.bbx
expect_exit 2 "unknown option" $BBX info --bogus x.bbx
expect_exit 2 "convert without --to" $BBX convert x.bbx
expect_exit 2 "convert to an unknown format" $BBX convert x.bbx --to svg
expect_exit 2 "two input files" $BBX dump a.bbx b.bbx

expect_exit 1 "missing file" $BBX info "$T/nope.bbx"
if grep -qx "bbx: $T/nope.bbx: cannot open: No such file or directory at offset 0" "$T/err"; then ok "missing file names the file"
else bad "missing file message: $(cat "$T/err")"; fi
printf 'hello, I am text\n' >"$T/text.bbx"
expect_exit 1 "a text file" $BBX dump "$T/text.bbx"
if grep -q "^bbx: $T/text.bbx: not a blackbox file .* at offset 0$" "$T/err"; then ok "text file: bad magic at offset 0"
else bad "text file message: $(cat "$T/err")"; fi
expect_exit 1 "a directory" $BBX info "$T"
grep -qx "bbx: $T: not a regular file (a directory) at offset 0" "$T/err" && ok "a directory is named as one" \
    || bad "directory message: $(cat "$T/err")"
# Nothing that is not a regular file is read, and opening one never waits.
mkfifo "$T/fifo"
expect_exit 1 "a FIFO with no writer, at once" timeout 10 $BBX info "$T/fifo"
grep -qx "bbx: $T/fifo: not a regular file (a FIFO) at offset 0" "$T/err" && ok "a FIFO is named as one" \
    || bad "FIFO message: $(cat "$T/err")"
expect_exit 1 "a character device" timeout 10 $BBX dump /dev/zero
grep -qx "bbx: /dev/zero: not a regular file (a character device) at offset 0" "$T/err" && ok "a device is named as one" \
    || bad "device message: $(cat "$T/err")"
# Standard input is read only as far as a capture goes: 1.2 GB of zeros is
# rejected after its first 8 bytes (the pipe's writer then sees EPIPE).
expect_exit 1 "stdin that is not a capture" sh -c "head -c 1200000000 /dev/zero | timeout 20 $BBX info -"
grep -qx "bbx: <stdin>: not a blackbox file (magic is not \\\\x89BBX\\\\r\\\\n\\\\x1a\\\\n) at offset 0" "$T/err" \
    && ok "stdin of zeros: bad magic at offset 0" || bad "stdin of zeros: $(cat "$T/err")"
expect_exit 1 "stdin that runs on past its capture" sh -c "{ cat tests/golden/ok/minimal.bbx; echo more; } | $BBX info -"
grep -q "^bbx: <stdin>: .* past its declared end at offset 16384$" "$T/err" && ok "stdin past its end: named at the declared end" \
    || bad "stdin past its end: $(cat "$T/err")"

# A real capture from the example program.
"$EXAMPLES/pipeline" --out "$T/p.bbx" --blocks 200 >/dev/null || bad "pipeline example failed"
expect_exit 0 "info on a real capture" $BBX info "$T/p.bbx"
grep -q "^ended       cleanly" "$T/out" && ok "info says it ended cleanly" || bad "info: $(head -c 400 "$T/out")"
expect_exit 0 "dump on a real capture" $BBX dump "$T/p.bbx"
cp "$T/out" "$T/dump-file.txt"
[ "$(grep -c ' T[0-9]*  end  io  write_block$' "$T/dump-file.txt")" -eq 200 ] && ok "dump shows all 200 write_block ends" \
    || bad "dump: $(grep -c 'write_block' "$T/dump-file.txt") write_block lines"
expect_exit 0 "dump from standard input" sh -c "$BBX dump - < '$T/p.bbx'"
cmp -s "$T/out" "$T/dump-file.txt" && ok "stdin dump equals file dump" || bad "stdin dump differs"
expect_exit 0 "dump -o" $BBX dump "$T/p.bbx" -o "$T/d.txt"
cmp -s "$T/d.txt" "$T/dump-file.txt" && ok "dump -o writes the same text" || bad "dump -o differs"
expect_exit 0 "convert with the default output name" $BBX convert "$T/p.bbx" --to chrome
[ -s "$T/p.bbx.json" ] && ok "default output is FILE.json" || bad "no $T/p.bbx.json"
expect_exit 0 "convert --to=perfetto -o" $BBX convert --to=perfetto "$T/p.bbx" -o "$T/p.pftrace"
[ -s "$T/p.pftrace" ] && ok "perfetto output written" || bad "no perfetto output"
ls "$T" | grep -q '\.tmp\.' && bad "a temporary output file was left behind" || ok "no temporary file left behind"
expect_exit 1 "output into a missing directory" $BBX convert "$T/p.bbx" --to chrome -o "$T/no/such/dir/x.json"

# Snapshots: a compressed, checksummed copy that every verb reads.
expect_exit 0 "snapshot of a real capture" $BBX snapshot "$T/p.bbx" -o "$T/p.snap"
[ "$(stat -c %a "$T/p.snap")" = 600 ] && ok "snapshot created with mode 0600" || bad "snapshot mode $(stat -c %a "$T/p.snap")"
[ "$(stat -c %s "$T/p.snap")" -lt "$(($(stat -c %s "$T/p.bbx") / 10))" ] && ok "snapshot is under a tenth of the ring file" \
    || bad "snapshot is $(stat -c %s "$T/p.snap") bytes, the ring file $(stat -c %s "$T/p.bbx")"
expect_exit 0 "info on a snapshot" $BBX info "$T/p.snap"
grep -q "^format      2\.[0-9]*, ring file in a capture container 1\.0 ([0-9]* LZ4 chunks of 64\.0 KiB)$" "$T/out" \
    && ok "info names the container" || bad "info format line: $(grep '^format' "$T/out")"
grep -q "^size        raw ring [0-9.]* bytes/event .*, LZ4 capture [0-9.]* bytes/event (.*: this container)$" "$T/out" \
    && ok "info gives raw and LZ4 bytes per event" || bad "info size line: $(grep '^size' "$T/out")"
expect_exit 0 "info on the ring file" $BBX info "$T/p.bbx"
grep -q "^size        raw ring .* LZ4 capture [0-9.]* bytes/event (.* estimated by compressing its image)$" "$T/out" \
    && ok "info estimates the LZ4 size of a ring file" || bad "info size line: $(grep '^size' "$T/out")"
expect_exit 0 "dump of a snapshot" $BBX dump "$T/p.snap"
cmp -s "$T/out" "$T/dump-file.txt" && ok "a snapshot dumps what its ring file dumps" || bad "snapshot dump differs"
for to in perfetto chrome otlp; do
    expect_exit 0 "convert a snapshot --to $to" $BBX convert "$T/p.snap" --to $to -o "$T/snap.$to"
    $BBX convert "$T/p.bbx" --to $to -o "$T/file.$to" >/dev/null 2>&1
    cmp -s "$T/snap.$to" "$T/file.$to" && ok "the snapshot's $to trace equals the ring file's" || bad "$to trace differs"
done
expect_exit 0 "analyze a snapshot" $BBX analyze "$T/p.snap"
cp "$T/p.snap" "$T/p.snap.orig"
expect_exit 1 "snapshot onto an existing file" $BBX snapshot "$T/p.bbx" -o "$T/p.snap"
grep -qx "bbx: $T/p.snap: cannot create: File exists" "$T/err" && ok "an existing OUT is named" || bad "existing OUT: $(cat "$T/err")"
cmp -s "$T/p.snap" "$T/p.snap.orig" && ok "the existing OUT is left as it was" || bad "the existing OUT changed"
expect_exit 2 "snapshot without -o" $BBX snapshot "$T/p.bbx"
expect_exit 2 "snapshot --level 13" $BBX snapshot --level 13 "$T/p.bbx" -o "$T/x.snap"
expect_exit 0 "snapshot from standard input, --level 9" sh -c "$BBX snapshot --level 9 - -o '$T/stdin.snap' < '$T/p.bbx'"
$BBX dump "$T/stdin.snap" 2>&1 | cmp -s - "$T/dump-file.txt" && ok "the LZ4 HC snapshot dumps the same" || bad "HC snapshot dump differs"
expect_exit 0 "snapshot of a snapshot" $BBX snapshot "$T/p.snap" -o "$T/pp.snap"
cmp -s "$T/pp.snap" "$T/p.snap" && ok "re-packing a snapshot gives the same bytes" || bad "re-packed snapshot differs"
expect_exit 0 "snapshot to standard output" sh -c "$BBX snapshot '$T/p.bbx' -o - > '$T/stdout.snap'"
cmp -s "$T/stdout.snap" "$T/p.snap" && ok "-o - writes the same bytes" || bad "-o - differs"
# One byte of chunk 0's LZ4 block changed (the block starts at 64 + 16).
cp "$T/p.snap" "$T/bad.snap"
byte=$(od -An -tu1 -j100 -N1 "$T/bad.snap" | tr -d ' ')
printf "\\$(printf %o $(((byte + 1) % 256)))" | dd of="$T/bad.snap" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_exit 1 "info on a damaged snapshot" $BBX info "$T/bad.snap"
grep -q "^bbx: $T/bad.snap: chunk 0 of [0-9]*: the packed bytes fail their CRC-32C (.*) at offset 64$" "$T/err" \
    && ok "the damaged chunk is named with its offset" || bad "damaged snapshot: $(cat "$T/err")"
head -c 1000 "$T/p.snap" >"$T/cut.snap"
expect_exit 1 "dump of a cut snapshot" $BBX dump "$T/cut.snap"
grep -q "^bbx: $T/cut.snap: .* at offset 1000$" "$T/err" && ok "a cut snapshot is named at its length" || bad "cut snapshot: $(cat "$T/err")"
expect_exit 1 "snapshot of a text file" $BBX snapshot "$T/text.bbx" -o "$T/t.snap"
[ ! -e "$T/t.snap" ] && ok "no output is left for a bad input" || bad "$T/t.snap was left behind"

# Filters (decoder/src/filter.cpp): a bad value or a thread the capture does
# not have is a usage error that names the option; filtered output is the
# subset asked for.
expect_exit 2 "an invalid --name regex" $BBX dump "$T/p.bbx" --name '(oops'
grep -q "^bbx: --name: '(oops' is not a valid regular expression (ECMAScript): " "$T/err" \
    && ok "the bad regex is named" || bad "bad regex message: $(head -1 "$T/err")"
expect_exit 2 "a bad --since time" $BBX dump "$T/p.bbx" --since 2x
grep -q "^bbx: --since: '2x' is not a time " "$T/err" && ok "the bad time is named" || bad "bad time message: $(head -1 "$T/err")"
expect_exit 2 "a bad --until date" $BBX convert "$T/p.bbx" --to chrome -o "$T/f.json" --until 2026-13-01T00:00:00Z
grep -q "^bbx: --until: '2026-13-01T00:00:00Z' is not an RFC 3339 time" "$T/err" \
    && ok "the bad date is named" || bad "bad date message: $(head -1 "$T/err")"
expect_exit 2 "an unknown --thread" $BBX convert "$T/p.bbx" --to chrome -o "$T/f.json" --thread nobody
grep -q "^bbx: $T/p.bbx: --thread: no thread 'nobody' in the capture (threads: T0 tid [0-9]* \"" "$T/err" \
    && ok "the unknown thread is named, with the threads there are" || bad "unknown thread message: $(head -1 "$T/err")"
[ ! -e "$T/f.json" ] && ok "no output is written on a filter usage error" || bad "$T/f.json written"
expect_exit 2 "an unknown --level" $BBX analyze "$T/p.bbx" --level loud
expect_exit 2 "--task 0" $BBX info --task 0 "$T/p.bbx"
expect_exit 2 "--user-only with a value" $BBX dump "$T/p.bbx" --user-only=yes
expect_exit 2 "--thread without a value" $BBX dump "$T/p.bbx" --thread
expect_exit 2 "an empty time window" $BBX dump "$T/p.bbx" --since 2s --until 1s
grep -q "^bbx: $T/p.bbx: the time window is empty" "$T/err" && ok "an empty window is named" || bad "empty window: $(head -1 "$T/err")"

writer=$(grep -m1 '  io  write_block' "$T/dump-file.txt" | awk '{print $2}')
expect_exit 0 "dump --thread writer" $BBX dump "$T/p.bbx" --thread writer
events_only
[ -s "$T/out" ] && [ "$(awk -v r="$writer" '$2 != r' "$T/out" | wc -l)" -eq 0 ] \
    && [ "$(wc -l <"$T/out")" -eq "$(awk -v r="$writer" '$2 == r' "$T/dump-file.txt" | wc -l)" ] \
    && ok "--thread keeps every event of that thread and no other" || bad "--thread writer: $(wc -l <"$T/out") lines"
expect_exit 0 "dump --category io --name ^write" $BBX dump "$T/p.bbx" --category io --name '^write'
events_only
[ "$(wc -l <"$T/out")" -eq 400 ] && [ "$(grep -c '  io  write_block' "$T/out")" -eq 400 ] \
    && ok "--category and --name together keep the 200 write_block pairs" || bad "category+name: $(wc -l <"$T/out") lines"
expect_exit 0 "dump --since -0s" $BBX dump "$T/p.bbx" --since -0s
events_only
[ "$(wc -l <"$T/out")" -eq 2 ] && grep -q '  begin  pipeline  run  ' "$T/out" && tail -1 "$T/out" | grep -q '  end  pipeline  run$' \
    && ok "--since -0s: the last event, and the span still open then, carried in" || bad "--since -0s: $(cat "$T/out")"
expect_exit 0 "dump - --since -0s" sh -c "$BBX dump - --since -0s < '$T/p.bbx'"
events_only
[ "$(wc -l <"$T/out")" -eq 2 ] && ok "a window from the end works on standard input" || bad "stdin --since -0s: $(cat "$T/out")"
started=$($BBX info "$T/p.bbx" | awk '$1 == "started" {print $2}')
expect_exit 0 "dump --since=<start as RFC 3339>" $BBX dump "$T/p.bbx" --since="$started"
cmp -s "$T/out" "$T/dump-file.txt" && ok "a wall-clock --since at the start keeps everything" || bad "--since=$started differs"
expect_exit 0 "dump --until=<start as RFC 3339>" $BBX dump "$T/p.bbx" --until="$started"
events_only
[ ! -s "$T/out" ] && ok "a wall-clock --until at the start keeps nothing" || bad "--until=$started: $(head -2 "$T/out")"
expect_exit 0 "info --thread writer" $BBX info "$T/p.bbx" --thread writer
head -1 "$T/out" | grep -q "^filtered    --thread writer " && ok "info says it is filtered" || bad "info: $(head -1 "$T/out")"
grep -q "^events      $(awk -v r="$writer" '$2 == r' "$T/dump-file.txt" | wc -l) readable," "$T/out" \
    && ok "info counts the events that pass" || bad "info events: $(grep '^events' "$T/out")"
expect_exit 0 "convert --to perfetto, filtered" $BBX convert "$T/p.bbx" --to perfetto -o "$T/f.pftrace" --thread writer --level info
[ -s "$T/f.pftrace" ] && [ "$(stat -c %s "$T/f.pftrace")" -lt "$(stat -c %s "$T/p.pftrace")" ] \
    && ok "a filtered Perfetto trace is smaller" || bad "filtered trace: $(stat -c %s "$T/f.pftrace") vs $(stat -c %s "$T/p.pftrace")"
expect_exit 0 "analyze --user-only --since 0" $BBX analyze --user-only --since 0 "$T/p.bbx"
expect_exit 0 "merge --thread writer" $BBX merge "$T/p.bbx" "$T/p.bbx" --to chrome -o "$T/m.json" --thread writer
[ "$(grep -c '"name":"write_block"' "$T/m.json")" -eq 800 ] && ! grep -q '"name":"read_block"' "$T/m.json" \
    && ok "merge writes the filtered events of each capture" || bad "merge --thread: $(grep -c write_block "$T/m.json") write_block"
expect_exit 2 "merge --thread nobody" $BBX merge "$T/p.bbx" "$T/p.bbx" --to chrome -o "$T/m2.json" --thread nobody
grep -q "^bbx: --thread: no capture has a thread 'nobody'" "$T/err" && ok "merge names the thread no capture has" \
    || bad "merge unknown thread: $(head -1 "$T/err")"

# --symbols: a program that cannot be read is an error only when there is a crash to symbolise.
expect_exit 0 "info --symbols with no program file and no crash record" $BBX info --symbols "$T/no-such-program" tests/golden/ok/minimal.bbx
expect_exit 1 "dump --symbols with no program file and a crash record" $BBX dump --symbols "$T/no-such-program" tests/outputs/inputs/seed-crash.bbx
grep -q "^bbx: $T/no-such-program: cannot open: No such file or directory" "$T/err" && ok "the missing program is named" \
    || bad "missing program: $(cat "$T/err")"

# OTLP with nothing to export: an output with no lines, said on stderr, exit 0.
expect_exit 0 "convert --to otlp of a capture with no spans or tasks" $BBX convert tests/golden/ok/minimal.bbx --to otlp -o "$T/empty.jsonl"
[ -e "$T/empty.jsonl" ] && [ ! -s "$T/empty.jsonl" ] && ok "the OTLP output is there, with no lines" || bad "empty OTLP output"
grep -qx "bbx: tests/golden/ok/minimal.bbx: nothing to export to OTLP: no spans, tasks or crash records; the output has no lines" "$T/err" \
    && ok "nothing to export is said on stderr" || bad "nothing to export: $(cat "$T/err")"
expect_exit 0 "convert --to otlp filtered down to nothing" $BBX convert "$T/p.bbx" --to otlp -o "$T/none.jsonl" --name '^no such span$'
grep -q "nothing to export to OTLP: .* in what the filters keep;" "$T/err" && ok "... and says the filters left nothing" \
    || bad "filtered nothing to export: $(cat "$T/err")"

# Writing to a device goes straight to it: a rename over /dev/null would replace the device.
"$BBX" convert tests/golden/ok/all_kinds.bbx --to chrome -o /dev/null >/dev/null 2>&1
if [ -c /dev/null ]; then ok "convert -o /dev/null leaves /dev/null a device"; else bad "/dev/null is no longer a character device"; fi
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
