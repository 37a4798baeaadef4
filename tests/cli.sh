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

for verb in "" info dump convert analyze; do
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

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
