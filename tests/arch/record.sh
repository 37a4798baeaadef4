#!/bin/sh
# Records the captures tests/arch/ keeps again, on an x86-64 host: x86_64.bbx
# natively and aarch64.bbx under qemu-aarch64 (Debian: qemu-user), each by
# tests/arch/record.cpp, then writes each NAME.dump from the native bbx.
# Needs what `make test-aarch64` needs (tools/deps.sh ensure aarch64).
#
#   sh tests/arch/record.sh          then read every changed line: git diff tests/arch
#
# tests/arch/check.sh checks the events without the .dump files, so a wrong
# bbx cannot make its own answer right; the .dump pins every other byte.
set -eu
cd "$(dirname "$0")/../.."
[ "$(uname -m)" = x86_64 ] || { echo "record.sh: run on an x86-64 host" >&2; exit 2; }
make --no-print-directory build/tests/arch_record build/bbx
make --no-print-directory B=build-aarch64 CXX=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar build-aarch64/tests/arch_record
rm -f tests/arch/x86_64.bbx tests/arch/aarch64.bbx
build/tests/arch_record tests/arch/x86_64.bbx
qemu-aarch64 build-aarch64/tests/arch_record tests/arch/aarch64.bbx
for name in x86_64 aarch64; do
    build/bbx dump tests/arch/$name.bbx >tests/arch/$name.dump
done
sh tests/arch/check.sh build/bbx
echo "record.sh: now read the changes: git diff --stat tests/arch; build/bbx info tests/arch/aarch64.bbx"
