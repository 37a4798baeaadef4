#!/bin/sh
# The installed blackbox, as a user's build meets it: `make install` into a
# temporary DESTDIR, then programs built only against that tree: a CMake
# project (find_package + blackbox::recorder), a C++ program built with
# pkg-config (the shared library), the C API from cc (shared and static),
# Asio handler tracking switched on from a compiler command line. Each one
# records; the installed bbx decodes each capture and the events are checked.
# Then `make uninstall` must leave nothing behind.
# Prints "install: N passed, M failed".
#   tests/install.sh BUILD_DIR   (the libraries and bbx already built there)
B=${1:-build}
CXX=${CXX:-g++}
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   install: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL install: $1"; }
# run NAME CMD...: ok when CMD exits 0; its output in full otherwise.
run() {
    what=$1
    shift
    "$@" >"$T/log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then ok "$what"; return 0; fi
    bad "$what: exit $rc; its output:"
    sed 's/^/    /' "$T/log" | head -n 40
    return 1
}

D=$T/stage
P=/usr/local
R=$D$P
VERSION=$(sed -n 's/^VERSION := //p' Makefile)
SOVERSION=$(sed -n 's/^SOVERSION := //p' Makefile)

run "make install DESTDIR=... PREFIX=$P" make --no-print-directory B="$B" install DESTDIR="$D" PREFIX="$P" || {
    echo "install: $pass passed, $fail failed"
    exit 1
}

# ---- what is where --------------------------------------------------------------------
missing=""
for f in include/bbx/bbx.hpp include/bbx/bbx.h include/bbx/common.h include/bbx/format.hpp \
         include/bbx/task.hpp include/bbx/coro.hpp include/bbx/context.hpp include/bbx/crash.hpp \
         include/bbx/snapshot.hpp include/bbx/asio_tracking.hpp \
         lib/libbbx_recorder.a lib/libbbx_recorder.so.$VERSION lib/libbbx_recorder.so.$SOVERSION \
         lib/libbbx_recorder.so bin/bbx share/man/man1/bbx.1 lib/pkgconfig/blackbox.pc \
         lib/cmake/blackbox/blackboxConfig.cmake lib/cmake/blackbox/blackboxConfigVersion.cmake; do
    [ -e "$R/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "every file in place under $P"; else bad "missing under $P:$missing"; fi
outside=$(cd "$D" && find . ! -type d | grep -v "^\.$P/")
if [ -z "$outside" ]; then ok "nothing installed outside $P"; else bad "installed outside $P: $outside"; fi
# The headers a user includes only, none of the decoder's or the build's.
extra=$(cd "$R/include/bbx" && ls | grep -v -x -e bbx.hpp -e bbx.h -e common.h -e format.hpp -e task.hpp -e coro.hpp \
        -e context.hpp -e crash.hpp -e snapshot.hpp -e asio_tracking.hpp -e detail)
if [ -z "$extra" ]; then ok "no header but the recorder's and format.hpp"; else bad "headers that are not the recorder's: $extra"; fi

# ---- the shared library: its name and what it exports ---------------------------------
so=$R/lib/libbbx_recorder.so.$VERSION
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libbbx_recorder.so.$SOVERSION" ]; then ok "SONAME is $soname"; else bad "SONAME is '$soname'"; fi
if [ "$(readlink "$R/lib/libbbx_recorder.so.$SOVERSION")" = "libbbx_recorder.so.$VERSION" ] &&
   [ "$(readlink "$R/lib/libbbx_recorder.so")" = "libbbx_recorder.so.$SOVERSION" ]; then
    ok "libbbx_recorder.so -> .so.$SOVERSION -> .so.$VERSION"
else bad "symlinks: $(ls -l "$R/lib" | grep 'libbbx_recorder.so' | tr '\n' ' ')"; fi
nm -D --defined-only "$so" | awk '{ print $NF }' | sort >"$T/exports"
nm -D -C --defined-only "$so" | cut -d' ' -f3- | sort >"$T/exports.demangled"
# pthread_create is the one other export: the crash handler's interposer
# (recorder/src/crash.cpp), which gives every thread an alternate signal stack
# and must be found before libc's.
foreign=$(grep -v -e '^bbx_' -e '^bbx::' -e '^pthread_create$' "$T/exports.demangled")
if [ -z "$foreign" ]; then ok "exports only bbx_*, bbx:: and pthread_create ($(wc -l <"$T/exports") symbols)"
else bad "exports more than the API: $(echo "$foreign" | head -5 | tr '\n' ';')"; fi
if grep -qx 'pthread_create' "$T/exports"; then ok "exports pthread_create, the alternate-stack interposer"
else bad "pthread_create is not exported: threads of a program linked to the .so get no alternate stack"; fi
want_missing=""
for s in bbx_start bbx_detail_event bbx_detail_gate 'bbx::start(bbx::config const&)' 'bbx::detail::t_ring' \
         'bbx::detail::register_site(' 'bbx::snapshot(char const\*)' 'bbx::install_crash_handler()'; do
    grep -q "^$s" "$T/exports.demangled" || want_missing="$want_missing '$s'"
done
if [ -z "$want_missing" ]; then ok "exports the C API, the C++ API and the hot path's bbx::detail symbols"
else bad "does not export:$want_missing"; fi
if grep -q -e '^bbx::detail::\(anonymous\|.*session_state\)' -e 'flatbuffers' "$T/exports.demangled"; then
    bad "exports internals: $(grep -e anonymous -e flatbuffers "$T/exports.demangled" | head -3 | tr '\n' ';')"
else ok "no internals exported (no anonymous namespace, no FlatBuffers)"; fi

# ---- headers: each compiles alone from the installed tree -----------------------------
hdr_bad=""
for h in $(cd "$R/include" && find bbx -name '*.hpp' ! -name asio_tracking.hpp); do
    printf '#include <%s>\nint main() { return 0; }\n' "$h" >"$T/h.cpp"
    $CXX -std=c++20 -Wall -Wextra -Werror -I"$R/include" -fsyntax-only "$T/h.cpp" 2>"$T/h.err" || hdr_bad="$hdr_bad $h"
done
for h in bbx/bbx.h bbx/common.h; do
    printf '#include <%s>\nint main(void) { return 0; }\n' "$h" >"$T/h.c"
    $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$R/include" -fsyntax-only "$T/h.c" 2>"$T/h.err" || hdr_bad="$hdr_bad $h(C11)"
done
if [ -z "$hdr_bad" ]; then ok "every installed header compiles alone with -I$P/include (bbx.h as C11 too)"
else bad "headers that do not compile alone:$hdr_bad; $(head -c 300 "$T/h.err")"; fi
# What those headers pull in from the system: nothing of FlatBuffers or LZ4.
printf '#include <bbx/%s>\n' bbx.hpp task.hpp coro.hpp context.hpp crash.hpp snapshot.hpp >"$T/all.cpp"
$CXX -std=c++20 -I"$R/include" -M "$T/all.cpp" >"$T/all.d" 2>&1
if grep -q -e flatbuffers -e 'lz4' "$T/all.d"; then bad "the installed headers include FlatBuffers or LZ4: $(grep -o -e '[^ ]*flatbuffers[^ ]*' -e '[^ ]*lz4[^ ]*' "$T/all.d" | head -3)"
elif ! grep -q "$R/include/bbx/format.hpp" "$T/all.d"; then bad "dependency list has no format.hpp, so it proves nothing: $(head -c 200 "$T/all.d")"
else ok "the headers need neither FlatBuffers nor LZ4 headers"; fi

# ---- the programs -------------------------------------------------------------------
BBX=$R/bin/bbx
# expect CAPTURE HOW: the capture's events, without their times, are those app.cpp and app.c record.
expect() {
    what="$2: $(basename "$1")"
    {
        for i in 0 1 2; do
            odd=false
            [ $i = 1 ] && odd=true
            ratio=$(echo $i | awk '{ print $1 * 0.5 }')
            printf 'T0  begin  install  work  i=%s\n' $i
            printf 'T0  instant  install  built_with  how="%s" ratio=%s odd=%s\n' "$2" "$ratio" $odd
            printf 'T0  counter  install  depth  value=%s\n' $((10 + i))
            printf 'T0  end  install  work\n'
        done
        printf '# losses: none\n'  # dump's last line: nothing was lost
    } >"$T/want"
    if ! "$BBX" dump "$1" >"$T/dump" 2>"$T/dump.err"; then
        bad "$what: the installed bbx cannot read it: $(head -c 300 "$T/dump.err")"
        return 1
    fi
    sed 's/^ *[0-9]*\.[0-9]*  //' "$T/dump" >"$T/got"
    if cmp -s "$T/got" "$T/want"; then ok "$what: the installed bbx reads the 12 events recorded: spans, typed arguments, counters"
    else bad "$what: events differ from what was recorded: $(diff "$T/want" "$T/got" | head -6 | tr '\n' ' ')"; return 1; fi
}

# 1. CMake: find_package(blackbox) and blackbox::recorder, as the README says.
if command -v cmake >/dev/null 2>&1; then
    if run "cmake: configure tests/install with find_package(blackbox 2.0 REQUIRED)" \
           cmake -S tests/install -B "$T/cmake" -DCMAKE_PREFIX_PATH="$R" -DCMAKE_CXX_COMPILER="$CXX" &&
       run "cmake: build app (blackbox::recorder) and app_shared (blackbox::recorder_shared)" \
           cmake --build "$T/cmake"; then
        # The C++20 requirement came from the target: the project never asks for it.
        if grep -rqs -e '-std=gnu++20' -e '-std=c++20' "$T/cmake/CMakeFiles/app.dir/flags.make"; then
            ok "cmake: the target carries C++20 (the project sets no standard)"
        else bad "cmake: no -std=c++20 in the compile flags: $(grep CXX_FLAGS "$T/cmake/CMakeFiles/app.dir/flags.make")"; fi
        # (Threads::Threads adds nothing with glibc 2.34 or later, where libc has pthreads.)
        if grep -qs -e 'liblz4' -e '-llz4' "$T/cmake/CMakeFiles/app.dir/link.txt"; then
            ok "cmake: the static target brings its link dependencies (LZ4)"
        else bad "cmake: link line without lz4 or threads: $(cat "$T/cmake/CMakeFiles/app.dir/link.txt")"; fi
        if run "cmake: app records (and snapshots)" "$T/cmake/app" "$T/cmake.bbx" cmake "$T/cmake-snapshot.bbx"; then
            expect "$T/cmake.bbx" cmake
            expect "$T/cmake-snapshot.bbx" cmake
        fi
        if readelf -d "$T/cmake/app_shared" | grep -q "NEEDED.*libbbx_recorder.so.$SOVERSION" &&
           run "cmake: app_shared records" env LD_LIBRARY_PATH="$R/lib" "$T/cmake/app_shared" "$T/cmake-shared.bbx" cmake-shared; then
            expect "$T/cmake-shared.bbx" cmake-shared
        else bad "cmake: app_shared does not need libbbx_recorder.so.$SOVERSION"; fi
    fi
    cmake -S tests/install/version -B "$T/version" -DCMAKE_PREFIX_PATH="$R" -DCMAKE_CXX_COMPILER="$CXX" >"$T/version.log" 2>&1
    sed -n 's/^-- request \([^:]*\): found=\([A-Za-z0-9]*\).*/\1 \2/p' "$T/version.log" | tr '\n' ';' >"$T/version.got"
    want_v="2 1;2.0 1;2.0.0 1;1.9 0;3 0;2.1 0;1.5...<3 1;2.1...4 0;"
    if [ "$(cat "$T/version.got")" = "$want_v" ]; then ok "cmake: blackboxConfigVersion answers 2, 2.0, 2.0.0, 1.5...<3 and refuses 1.9, 3, 2.1, 2.1...4"
    else bad "cmake: version answers '$(cat "$T/version.got")', expected '$want_v'"; fi
else
    bad "cmake not found (Debian: cmake; make deps installs it)"
fi

# 2. pkg-config: a C++ program, linked to the shared library as -lbbx_recorder does.
if command -v pkg-config >/dev/null 2>&1; then
    PC="env PKG_CONFIG_PATH=$R/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config"
    if [ "$($PC --modversion blackbox 2>&1)" = "$VERSION" ]; then ok "pkg-config: blackbox $VERSION"
    else bad "pkg-config --modversion: $($PC --modversion blackbox 2>&1)"; fi
    static_libs=$($PC --static --libs blackbox 2>&1)
    case " $static_libs " in
        *" -llz4 "*"-lpthread"* | *"-lpthread"*" -llz4 "*) ok "pkg-config --static lists what a static link needs: $static_libs" ;;
        *) bad "pkg-config --static --libs: $static_libs" ;;
    esac
    # shellcheck disable=SC2046
    if run "pkg-config: g++ -std=c++20 app.cpp \$(pkg-config --cflags --libs blackbox)" \
           $CXX -std=c++20 -o "$T/app_pc" tests/install/app.cpp $($PC --cflags --libs blackbox); then
        if readelf -d "$T/app_pc" | grep -q "NEEDED.*libbbx_recorder.so.$SOVERSION"; then ok "pkg-config: linked to libbbx_recorder.so.$SOVERSION"
        else bad "pkg-config: the program does not need libbbx_recorder.so.$SOVERSION"; fi
        resolved=$(LD_LIBRARY_PATH="$R/lib" ldd "$T/app_pc" | sed -n 's/.*libbbx_recorder.so[^ ]* => \([^ ]*\).*/\1/p')
        if [ "$resolved" = "$R/lib/libbbx_recorder.so.$SOVERSION" ]; then ok "pkg-config: the loader finds the installed library"
        else bad "pkg-config: libbbx_recorder resolves to '$resolved'"; fi
        run "pkg-config: the program records (and snapshots) through the shared library" \
            env LD_LIBRARY_PATH="$R/lib" "$T/app_pc" "$T/pc.bbx" pkg-config "$T/pc-snapshot.bbx" &&
            expect "$T/pc.bbx" pkg-config && expect "$T/pc-snapshot.bbx" pkg-config
    fi

    # 3. The C API from cc: shared (pkg-config), and static (with the C++ runtime).
    # shellcheck disable=SC2046
    if run "C API: cc -std=c11 -Wpedantic app.c \$(pkg-config --cflags --libs blackbox)" \
           $CC -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$T/app_c" tests/install/app.c $($PC --cflags --libs blackbox) &&
       run "C API: the C program records through the shared library" \
           env LD_LIBRARY_PATH="$R/lib" "$T/app_c" "$T/c.bbx" c "$T/c-snapshot.bbx"; then
        expect "$T/c.bbx" c
        expect "$T/c-snapshot.bbx" c
        # Same events, same bytes: the C and C++ programs' dumps differ in nothing but times and HOW.
        "$BBX" dump "$T/c.bbx" | sed 's/^ *[0-9.]*  //; s/how="[^"]*"//' >"$T/c.events"
        "$BBX" dump "$T/pc.bbx" | sed 's/^ *[0-9.]*  //; s/how="[^"]*"//' >"$T/cpp.events"
        if cmp -s "$T/c.events" "$T/cpp.events"; then ok "C API: its capture holds the events the C++ macros record"
        else bad "C API: C and C++ captures differ: $(diff "$T/c.events" "$T/cpp.events" | head -4 | tr '\n' ' ')"; fi
    fi
    if run "C API: static link: cc app.c libbbx_recorder.a -llz4 -lpthread -lstdc++" \
           $CC -std=c11 -o "$T/app_c_static" tests/install/app.c -I"$R/include" "$R/lib/libbbx_recorder.a" -llz4 -lpthread -lstdc++ &&
       run "C API: the statically linked C program records" "$T/app_c_static" "$T/c-static.bbx" c-static; then
        if readelf -d "$T/app_c_static" | grep -q 'NEEDED.*libbbx_recorder'; then bad "C API: the static program needs the shared library"
        else expect "$T/c-static.bbx" c-static; fi
    fi
else
    bad "pkg-config not found (Debian: pkgconf; make deps installs it)"
fi

# 4. Asio handler tracking switched on from the command line, as the README writes it.
if printf '#include <asio.hpp>\n' | $CXX -std=c++20 -x c++ -E - >/dev/null 2>&1; then
    cat >"$T/asio_app.cpp" <<'EOF'
#include <asio.hpp>
#include <bbx/bbx.hpp>
int main(int, char** argv) {
    if (!bbx::start({.path = argv[1]}).ok()) return 1;
    asio::io_context io;
    int ran = 0;
    for (int i = 0; i < 3; ++i) asio::post(io, [&] { ++ran; });
    io.run();
    bbx::stop();
    return ran == 3 ? 0 : 1;
}
EOF
    if run "Asio: g++ -DASIO_ENABLE_HANDLER_TRACKING -DASIO_CUSTOM_HANDLER_TRACKING='\"bbx/asio_tracking.hpp\"' ... -lbbx_recorder" \
           sh -c "$CXX -std=c++20 -DASIO_ENABLE_HANDLER_TRACKING -DASIO_CUSTOM_HANDLER_TRACKING='\"bbx/asio_tracking.hpp\"' -I'$R/include' -o '$T/asio_app' '$T/asio_app.cpp' -L'$R/lib' -lbbx_recorder -lpthread" &&
       run "Asio: the program runs its handlers" env LD_LIBRARY_PATH="$R/lib" "$T/asio_app" "$T/asio.bbx"; then
        polls=$("$BBX" dump "$T/asio.bbx" 2>/dev/null | grep -c ' poll_begin ')
        if [ "$polls" -ge 3 ]; then ok "Asio: its 3 handlers were recorded as task polls ($polls)"
        else bad "Asio: $polls task polls in the capture: $("$BBX" dump "$T/asio.bbx" 2>&1 | head -5 | tr '\n' ' ')"; fi
    fi
else
    echo "skipped: the Asio check (asio.hpp not found; Debian: libasio-dev)"
fi

# ---- the man page --------------------------------------------------------------------
man1=$R/share/man/man1/bbx.1
undocumented=""
for verb in info dump convert analyze merge snapshot top; do
    grep -q "^\.B $verb\$" "$man1" || undocumented="$undocumented $verb"
    for opt in $("$BBX" $verb --help | grep -o -e '--[a-z][a-z-]*' -e ' -o ' | sort -u); do
        grep -q -e "$(echo "$opt" | sed 's/-/\\\\-/g')" "$man1" || undocumented="$undocumented $verb:$opt"
    done
done
if [ -z "$undocumented" ]; then ok "bbx(1) describes every verb and every option the installed bbx prints in --help"
else bad "bbx(1) does not describe:$undocumented"; fi
if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -ww -z "$man1" >"$T/groff.log" 2>&1
    if [ -s "$T/groff.log" ]; then bad "groff warns about bbx(1): $(head -3 "$T/groff.log" | tr '\n' ' ')"
    else ok "bbx(1) formats without a warning (groff -ww)"; fi
fi

# ---- uninstall ---------------------------------------------------------------------
if run "make uninstall DESTDIR=... PREFIX=$P" make --no-print-directory B="$B" uninstall DESTDIR="$D" PREFIX="$P"; then
    left=$(cd "$D" && find . ! -type d)
    if [ -z "$left" ]; then ok "make uninstall leaves no file behind"; else bad "left after uninstall: $left"; fi
fi

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
