#!/bin/sh
# Runs the spec's test vectors against a bbx binary.
#
#   tests/golden/check.sh BBX_BINARY            check every vector
#   tests/golden/check.sh --update BBX_BINARY [ok/NAME|bad/NAME]...
#                                               rewrite NAME.dump / NAME.err from BBX_BINARY (all
#                                               vectors, or the ones named), then read every changed
#                                               line against the spec: git diff tests/golden
#
# ok/NAME.bbx:  `bbx dump ok/NAME.bbx` exits 0, prints nothing on stderr and
#               exactly ok/NAME.dump on stdout; `bbx info ok/NAME.bbx` exits 0.
# ok/v14_NAME.bbx: the 1.4 twin of the 2.0 vector ok/v2_NAME.bbx (the same events): their
#               expected dumps must be the same.
# bad/NAME.bbx: `bbx info bad/NAME.bbx` exits 1 (a signal or any other status
#               fails), prints nothing on stdout and exactly bad/NAME.err on stderr.
# Commands run from tests/golden/, so the file names in NAME.err read bad/NAME.bbx.
# Prints one line per vector and then `golden: N passed, M failed`; exits 1 if any failed.
set -u

update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
if [ $# -lt 1 ] || { [ $update -eq 0 ] && [ $# -ne 1 ]; }; then
    echo "usage: $0 [--update] BBX_BINARY [ok/NAME|bad/NAME]..." >&2
    exit 2
fi
case $1 in
    /*) bbx=$1 ;;
    *) bbx=$(pwd)/$1 ;;
esac
if [ ! -x "$bbx" ]; then
    echo "golden: $1 is not an executable" >&2
    exit 2
fi
shift
only=" $* "
cd "$(dirname "$0")" || exit 2

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0
pass() {
    printf 'ok   golden/%s\n' "$1"
    passed=$((passed + 1))
}
fail() {
    printf 'FAIL golden/%s: %s\n' "$1" "$2"
    failed=$((failed + 1))
}
# The exit status in words: a signal is named, so a crash is never mistaken for an error exit.
status() {
    if [ "$1" -ge 128 ]; then echo "killed by signal $(($1 - 128)) (crash)"; else echo "exited $1"; fi
}
# The first line of a file, for a failure message.
first_line() {
    head -n 1 "$1" | cut -c 1-160
}
# Whether --update rewrites vector $1's expected output.
updating() {
    [ $update -eq 1 ] && { [ "$only" = "  " ] || case $only in *" $1 "*) true ;; *) false ;; esac; }
}
# Where two files first differ.
where_differs() {
    cmp "$1" "$2" 2>&1 | sed 's/^.* differ: //; s/^cmp: //' | head -n 1
}

for f in ok/*.bbx; do
    [ -e "$f" ] || continue
    n=${f%.bbx}
    "$bbx" dump "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if updating "$n" && [ $rc -eq 0 ]; then cp "$tmp/out" "$n.dump"; fi
    if [ $rc -ne 0 ]; then
        fail "$n" "bbx dump $(status $rc): $(first_line "$tmp/err")"
    elif [ -s "$tmp/err" ]; then
        fail "$n" "bbx dump wrote to stderr: $(first_line "$tmp/err")"
    elif [ ! -f "$n.dump" ]; then
        fail "$n" "no expected output $n.dump"
    elif ! cmp -s "$tmp/out" "$n.dump"; then
        fail "$n" "bbx dump differs from $n.dump ($(where_differs "$n.dump" "$tmp/out"))"
    else
        "$bbx" info "$f" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ $rc -ne 0 ]; then
            fail "$n" "bbx info $(status $rc): $(first_line "$tmp/err")"
        else
            pass "$n"
        fi
    fi
done

for f in bad/*.bbx; do
    [ -e "$f" ] || continue
    n=${f%.bbx}
    "$bbx" info "$f" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if updating "$n" && [ $rc -eq 1 ]; then cp "$tmp/err" "$n.err"; fi
    if [ $rc -ne 1 ]; then
        fail "$n" "bbx info $(status $rc), expected exit 1: $(first_line "$tmp/err")"
    elif [ -s "$tmp/out" ]; then
        fail "$n" "bbx info wrote to stdout for a bad file: $(first_line "$tmp/out")"
    elif [ ! -f "$n.err" ]; then
        fail "$n" "no expected error $n.err"
    elif ! cmp -s "$tmp/err" "$n.err"; then
        if [ "$(first_line "$tmp/err")" != "$(first_line "$n.err")" ]; then
            fail "$n" "error is '$(first_line "$tmp/err")', expected '$(first_line "$n.err")'"
        else
            fail "$n" "stderr differs from $n.err ($(where_differs "$n.err" "$tmp/err"))"
        fi
    else
        pass "$n"
    fi
done

# Format 2.0 twins: ok/v14_NAME.bbx holds the events of ok/v2_NAME.bbx written as 1.4; both must
# dump the same (the 2.0 reader hands on the events the 1.x one does).
for f in ok/v14_*.bbx; do
    [ -e "$f" ] || continue
    n=${f#ok/v14_}
    n=${n%.bbx}
    if [ ! -e "ok/v2_$n.bbx" ]; then
        fail "twin/$n" "ok/v14_$n.bbx has no 2.0 twin ok/v2_$n.bbx"
    elif ! cmp -s "ok/v14_$n.dump" "ok/v2_$n.dump"; then
        fail "twin/$n" "ok/v2_$n.dump and ok/v14_$n.dump differ ($(where_differs "ok/v14_$n.dump" "ok/v2_$n.dump"))"
    else
        pass "twin/$n"
    fi
done

# An expected output whose vector is gone is a vector lost.
for e in ok/*.dump bad/*.err; do
    [ -e "$e" ] || continue
    if [ ! -e "${e%.*}.bbx" ]; then fail "${e%.*}" "$e has no ${e%.*}.bbx"; fi
done

if [ $((passed + failed)) -eq 0 ]; then fail "." "no vectors found in $(pwd)"; fi
printf 'golden: %d passed, %d failed\n' "$passed" "$failed"
[ $failed -eq 0 ]
