#!/bin/sh
# Compile-time gating: an event above BBX_LEVEL_MAX leaves no code and no
# strings in the object file; BBX_DISABLE leaves the code of an uninstrumented
# build. Prints "gating: N passed, M failed".
CXX=${CXX:-g++}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   gating: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL gating: $1"; }
build() { $CXX -std=c++20 -O2 -Iformat/include -Irecorder/include "$@"; }

for opt in -O0 -O2; do
    if build $opt -DBBX_LEVEL_MAX=BBX_LEVEL_INFO -c tests/gating/gated.cpp -o "$T/info.o"; then
        if strings -a "$T/info.o" | grep -q gating_secret; then
            bad "$opt: a DEBUG/TRACE string survived BBX_LEVEL_MAX=INFO: $(strings -a "$T/info.o" | grep gating_secret | head -3 | tr '\n' ' ')"
        else ok "$opt: no string of a DEBUG/TRACE event with BBX_LEVEL_MAX=INFO"; fi
        # The check can fail: the INFO event's strings must be there.
        if strings -a "$T/info.o" | grep -q gating_kept_name; then ok "$opt: the INFO event is still compiled in"
        else bad "$opt: the INFO event's name is missing, so the check above proves nothing"; fi
    else bad "$opt: gated.cpp does not compile with BBX_LEVEL_MAX=INFO"; fi
done

if build -DBBX_DISABLE -c tests/gating/gated.cpp -o "$T/off.o" && build -c tests/gating/plain.cpp -o "$T/plain.o"; then
    if strings -a "$T/off.o" | grep -q gating_; then bad "BBX_DISABLE left strings: $(strings -a "$T/off.o" | grep gating_ | head -3 | tr '\n' ' ')"
    else ok "no string of any event with BBX_DISABLE"; fi
    if nm -C "$T/off.o" | grep -q bbx; then bad "BBX_DISABLE left references to bbx: $(nm -C "$T/off.o" | grep bbx | head -3 | tr '\n' ' ')"
    else ok "no bbx symbol referenced with BBX_DISABLE"; fi
    objdump -d --no-show-raw-insn "$T/off.o" | sed -n '/<_Z/,$p' | grep -v 'file format' > "$T/off.s"
    objdump -d --no-show-raw-insn "$T/plain.o" | sed -n '/<_Z/,$p' | grep -v 'file format' > "$T/plain.s"
    if cmp -s "$T/off.s" "$T/plain.s"; then ok "BBX_DISABLE code is identical to an uninstrumented build"
    else bad "BBX_DISABLE code differs from an uninstrumented build: $(diff "$T/off.s" "$T/plain.s" | head -5 | tr '\n' ' ')"; fi
else bad "gated.cpp or plain.cpp does not compile"; fi

echo "gating: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
