#!/bin/sh
# deps.sh check|install PACKAGE...: the Debian packages blackbox builds with.
# check: exit 1 naming what is missing. install: apt-get what is missing
# (as root), or print the exact command to run.
mode=$1; shift
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$mode" = check ]; then
    echo "blackbox: missing Debian packages:$missing" >&2
    echo "blackbox: run 'make deps' (or: sudo apt-get install -y$missing)" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    echo "blackbox: installing$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$missing
else
    echo "blackbox: as root, run: apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
