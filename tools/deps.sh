#!/bin/sh
# deps.sh: what blackbox needs, who needs it, and how to get it.
#
#   tools/deps.sh check GROUP...     exit 1 naming what is missing
#   tools/deps.sh ensure GROUP...    install what is missing (apt-get, as root); otherwise
#                                    print the exact command to run and exit 1
#   tools/deps.sh install GROUP...   apt-get install every Debian package of the groups (make deps)
#   tools/deps.sh packages GROUP...  list the groups' Debian packages
#
# A need is found missing by probing for it, not by asking dpkg: a header is
# looked for with the compiler ($CXX, or $CROSS_CXX for the aarch64 group), a
# library by linking against it, a tool with `command -v`. So the checks
# hold on any system; only installing assumes Debian (apt-get).
#
# Groups:
#   build    the recorder library: a C++20 compiler, flatc and the FlatBuffers
#            headers (metadata code, built in), LZ4 (bbx::snapshot)
#   tool     the bbx tool: mimalloc, LZ4
#   test     make test: doctest, Asio, a C compiler, binutils, python3 (JSON
#            checks), CMake and pkg-config (the install suite), Asio's example
#            sources (libasio-doc) and Boost.Asio/Beast (the Asio example suite),
#            tmux (the top suite runs bbx top on a terminal and reads its screen)
#   bench    make bench's peers, all optional (a missing one is skipped): spdlog,
#            LTTng-UST and its tools, babeltrace2 (counts LTTng's events), time
#   fuzz     make fuzz: clang and its libFuzzer runtime
#   aarch64  make test-aarch64: the cross compiler, qemu-user, and LZ4,
#            mimalloc and the C++ runtime for arm64 (Debian multiarch: adds the
#            arm64 architecture; the suites run against these, not the
#            cross toolchain's copies, whose libc differs from libc6:arm64)
set -u
mode=${1:-}
[ $# -gt 0 ] && shift
CXX=${CXX:-g++}
CC=${CC:-cc}
CROSS_CXX=${CROSS_CXX:-aarch64-linux-gnu-g++}

# One need a line: group, kind, what to probe, the Debian package that
# provides it. Kinds: cxx20 ($CXX compiles C++20), file (a file exists), cc ($CC runs), xcxx
# ($CROSS_CXX runs), tool (a command), header, lib (with $CXX), xlib (with
# $CROSS_CXX), xrun (a threaded C++ program runs under qemu-aarch64), fuzzer
# (clang++ links -fsanitize=fuzzer).
needs() {
    cat <<EOF
build   cxx20   c++20                       $(compiler_package "$CXX")
build   tool    flatc                       flatbuffers-compiler
build   header  flatbuffers/flatbuffers.h   libflatbuffers-dev
build   header  lz4.h                       liblz4-dev
build   lib     lz4                         liblz4-dev
tool    header  mimalloc.h                  libmimalloc-dev
tool    lib     mimalloc                    libmimalloc-dev
test    header  doctest/doctest.h           doctest-dev
test    header  asio.hpp                    libasio-dev
test    cc      cc                          gcc
test    tool    objdump                     binutils
test    tool    python3                     python3
test    tool    cmake                       cmake
test    tool    pkg-config                  pkgconf
test    file    /usr/share/doc/libasio-dev/examples/cpp11/http/server/server.cpp libasio-doc
test    header  boost/beast.hpp             libboost-dev
test    tool    tmux                        tmux
bench   header  spdlog/spdlog.h             libspdlog-dev
bench   header  lttng/tracepoint.h          liblttng-ust-dev
bench   tool    lttng                       lttng-tools
bench   tool    babeltrace2                 babeltrace2
bench   tool    /usr/bin/time               time
fuzz    tool    clang++                     clang
fuzz    fuzzer  clang++                     libclang-rt-14-dev
aarch64 xcxx    aarch64-linux-gnu-g++       g++-aarch64-linux-gnu
aarch64 tool    qemu-aarch64                qemu-user
aarch64 xlib    lz4                         liblz4-dev:arm64
aarch64 xlib    mimalloc                    libmimalloc-dev:arm64
aarch64 xrun    libstdc++.so.6              libstdc++6:arm64
EOF
}

# The Debian package of a compiler named by $CXX (g++-12, clang++-14, ...).
compiler_package() {
    set -- $1
    case ${1##*/} in
        clang++*) echo "clang${1##*clang++}" ;;
        g++*) echo "g++${1##*g++}" ;;
        *) echo g++ ;;
    esac
}

# probe KIND WHAT: exit 0 when present.
probe() {
    case $1 in
        tool) command -v "$2" >/dev/null 2>&1 ;;
        file) [ -e "$2" ] ;;
        cxx20) printf 'constinit int x = 1;\nint main() { return x - 1; }\n' |
            $CXX -std=c++20 -x c++ -fsyntax-only - >/dev/null 2>&1 ;;
        cc) printf 'int main(void) { return 0; }\n' | $CC -x c -fsyntax-only - >/dev/null 2>&1 ;;
        xcxx) printf 'int main() { return 0; }\n' | $CROSS_CXX -x c++ -fsyntax-only - >/dev/null 2>&1 ;;
        header) printf '#include <%s>\n' "$2" | $CXX -std=c++20 -x c++ -E - >/dev/null 2>&1 ;;
        lib) probe_link "$CXX" "$2" ;;
        xlib) probe_link "$CROSS_CXX" "$2" ;;
        xrun) printf '#include <thread>\nint main() { std::thread([] {}).join(); }\n' |
            $CROSS_CXX -x c++ - -o "$tmp/xrun" >/dev/null 2>&1 && qemu-aarch64 "$tmp/xrun" >/dev/null 2>&1 ;;
        fuzzer) command -v "$2" >/dev/null 2>&1 &&
            printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' |
            "$2" -fsanitize=fuzzer -x c++ - -o "$tmp/fuzzer" >/dev/null 2>&1 ;;
        *) echo "deps.sh: unknown kind $1" >&2; return 1 ;;
    esac
}
probe_link() {
    printf 'int main() { return 0; }\n' | $1 -x c++ - -o "$tmp/link" -l"$2" >/dev/null 2>&1
}

# A need as a person reads it.
shown() {
    case $1 in
        cxx20) echo "'$CXX' (a C++20 compiler)" ;;
        cc) echo "'$CC' (a C compiler)" ;;
        xcxx) echo "'$CROSS_CXX'" ;;
        lib) echo "lib$2" ;;
        xlib) echo "lib$2 for aarch64" ;;
        xrun) echo "$2 for aarch64 (to run under qemu-aarch64)" ;;
        fuzzer) echo "libFuzzer" ;;
        *) echo "$2" ;;
    esac
}

# The lines of needs() in the groups named.
select_groups() {
    needs | while read -r group kind what package; do
        for g in "$@"; do
            if [ "$g" = "$group" ]; then echo "$group $kind $what $package"; fi
        done
    done
}

for g in "$@"; do
    case $g in
        build | tool | test | bench | fuzz | aarch64) ;;
        *) echo "deps.sh: unknown group '$g' (build, tool, test, bench, fuzz, aarch64)" >&2; exit 2 ;;
    esac
done
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# apt_install PACKAGE...: as root, with the foreign architectures they name added first.
apt_install() {
    for p in "$@"; do
        case $p in
            *:*)
                arch=${p#*:}
                if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
                    echo "blackbox: adding the Debian architecture $arch (dpkg --add-architecture $arch)"
                    dpkg --add-architecture "$arch" || return 1
                fi ;;
        esac
    done
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# The command a person runs to install PACKAGE...
apt_command() {
    archs=""
    for p in "$@"; do
        case $p in *:*) archs="$archs ${p#*:}" ;; esac
    done
    cmd=""
    for a in $(echo "$archs" | tr ' ' '\n' | sort -u); do cmd="${cmd}dpkg --add-architecture $a && "; done
    echo "${cmd}apt-get update && apt-get install -y --no-install-recommends $*"
}

case $mode in
    packages)
        select_groups "$@" | awk '{ print $4 }' | sort -u
        exit 0 ;;
    install)
        packages=$(select_groups "$@" | awk '{ print $4 }' | sort -u | tr '\n' ' ')
        if [ "$(id -u)" != 0 ]; then
            echo "blackbox: as root, run: $(apt_command $packages)" >&2
            exit 1
        fi
        # shellcheck disable=SC2086
        apt_install $packages
        exit $? ;;
    check | ensure) ;;
    *)
        echo "usage: tools/deps.sh check|ensure|install|packages GROUP..." >&2
        exit 2 ;;
esac

missing=""
packages=""
select_groups "$@" >"$tmp/needs"
while read -r group kind what package; do
    if ! probe "$kind" "$what"; then
        missing="$missing $(shown "$kind" "$what")"
        case " $packages " in *" $package "*) ;; *) packages="$packages $package" ;; esac
    fi
done <"$tmp/needs"
[ -z "$missing" ] && exit 0

echo "blackbox: missing:$missing" >&2
if [ "$mode" = ensure ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "blackbox: installing$packages"
    # shellcheck disable=SC2086
    apt_install $packages || exit 1
    # Installed is not enough: what was missing must now be found.
    still=""
    while read -r group kind what package; do
        probe "$kind" "$what" || still="$still $(shown "$kind" "$what")"
    done <"$tmp/needs"
    [ -z "$still" ] && exit 0
    echo "blackbox: still missing after installing:$still" >&2
    exit 1
fi
if command -v apt-get >/dev/null 2>&1; then
    echo "blackbox: as root, run: $(apt_command $packages)" >&2
else
    echo "blackbox: on Debian these come from:$packages; install the equivalents for your system" >&2
fi
exit 1
