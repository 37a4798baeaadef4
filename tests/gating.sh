#!/bin/sh
# Compile-time gating, for the C++ macros (bbx/bbx.hpp) and the C ones
# (bbx/bbx.h): an event above BBX_LEVEL_MAX leaves no code and no strings in
# the object file; BBX_DISABLE leaves the code of an uninstrumented build.
# The same for bbx/asio_tracking.hpp's diagnostics (tests/gating/asio.cpp).
# Prints "gating: N passed, M failed".
CXX=${CXX:-g++}
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   gating: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL gating: $1"; }

# check LANG EXT: tests/gating/gated.EXT and plain.EXT, built with build_LANG.
build_cxx() { $CXX -std=c++20 -O2 -Iformat/include -Irecorder/include "$@"; }
build_c() { $CC -std=c11 -O2 -Irecorder/include "$@"; }
check() {
    lang=$1 ext=$2
    for opt in -O0 -O2; do
        if build_$lang $opt -DBBX_LEVEL_MAX=BBX_LEVEL_INFO -c tests/gating/gated.$ext -o "$T/info.o"; then
            if strings -a "$T/info.o" | grep -q gating_secret; then
                bad "$lang $opt: a DEBUG/TRACE string survived BBX_LEVEL_MAX=INFO: $(strings -a "$T/info.o" | grep gating_secret | head -3 | tr '\n' ' ')"
            else ok "$lang $opt: no string of a DEBUG/TRACE event with BBX_LEVEL_MAX=INFO"; fi
            # The check can fail: the INFO event's strings must be there.
            if strings -a "$T/info.o" | grep -q gating_kept_name; then ok "$lang $opt: the INFO event is still compiled in"
            else bad "$lang $opt: the INFO event's name is missing, so the check above proves nothing"; fi
        else bad "$lang $opt: gated.$ext does not compile with BBX_LEVEL_MAX=INFO"; fi
    done

    if build_$lang -DBBX_DISABLE -c tests/gating/gated.$ext -o "$T/off.o" && build_$lang -c tests/gating/plain.$ext -o "$T/plain.o"; then
        if strings -a "$T/off.o" | grep -q gating_; then bad "$lang: BBX_DISABLE left strings: $(strings -a "$T/off.o" | grep gating_ | head -3 | tr '\n' ' ')"
        else ok "$lang: no string of any event with BBX_DISABLE"; fi
        if nm -C "$T/off.o" | grep -q bbx; then bad "$lang: BBX_DISABLE left references to bbx: $(nm -C "$T/off.o" | grep bbx | head -3 | tr '\n' ' ')"
        else ok "$lang: no bbx symbol referenced with BBX_DISABLE"; fi
        # From the first function on (C++ names are mangled, C names are not).
        objdump -d --no-show-raw-insn "$T/off.o" | sed -n '/<_Z/,$p; /<kept>:/,$p' | grep -v 'file format' > "$T/off.s"
        objdump -d --no-show-raw-insn "$T/plain.o" | sed -n '/<_Z/,$p; /<kept>:/,$p' | grep -v 'file format' > "$T/plain.s"
        if [ ! -s "$T/plain.s" ]; then bad "$lang: no code found in plain.$ext, so the comparison proves nothing"
        elif cmp -s "$T/off.s" "$T/plain.s"; then ok "$lang: BBX_DISABLE code is identical to an uninstrumented build"
        else bad "$lang: BBX_DISABLE code differs from an uninstrumented build: $(diff "$T/off.s" "$T/plain.s" | head -5 | tr '\n' ' ')"; fi
    else bad "$lang: gated.$ext or plain.$ext does not compile"; fi
}

check cxx cpp
check c c

# Asio's diagnostics: call sites named at run time (bbx::detail::runtime_sites)
# from the hooks, behind #if on the level rather than a macro's gate.
for opt in -O0 -O2; do
    if build_cxx $opt -c tests/gating/asio.cpp -o "$T/asio.o" &&
        build_cxx $opt -DBBX_LEVEL_MAX=BBX_LEVEL_INFO -c tests/gating/asio.cpp -o "$T/asio-info.o"; then
        if nm -C "$T/asio.o" | grep -q runtime_site && strings -a -n 3 "$T/asio.o" | grep -q '^start:$' && strings -a -n 3 "$T/asio.o" | grep -q '^io:$'; then
            ok "asio $opt: the diagnostics' tables and names are compiled in at the default level"
        else bad "asio $opt: no runtime_site symbol or \"start:\" at the default level, so the check below proves nothing"; fi
        if nm -C "$T/asio-info.o" | grep -q 'runtime_site\|g_start_sites\|g_op_sites\|g_io_sites'; then
            bad "asio $opt: a table of names survived BBX_LEVEL_MAX=INFO: $(nm -C "$T/asio-info.o" | grep runtime_site | head -3 | tr '\n' ' ')"
        elif strings -a "$T/asio-info.o" | grep -q '^start:$\|^op:$\|^io:$'; then
            bad "asio $opt: a name's prefix survived BBX_LEVEL_MAX=INFO"
        else ok "asio $opt: no table, code or name of the DEBUG/TRACE diagnostics with BBX_LEVEL_MAX=INFO"; fi
    else bad "asio $opt: tests/gating/asio.cpp does not compile"; fi
done

echo "gating: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
