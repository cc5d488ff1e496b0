#!/usr/bin/env bash
# Runs a command under strace and counts the files under DIR that it (and every thread and child) opened:
# successful open/openat calls, folders (O_DIRECTORY) left out. For the reads-per-image figures in BENCHMARKS.md.
#
#     Tools/bench-data/count-opens.sh DIR COMMAND [ARG...]
#
# Prints "opens N distinct M" on the last line of standard error; the command's own output is passed through.
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: Tools/bench-data/count-opens.sh DIR COMMAND [ARG...]" >&2; exit 2; fi
dir=$(realpath "$1"); shift
log=$(mktemp /tmp/count-opens.XXXXXX)
trap 'rm -f "$log"' EXIT
strace -f --seccomp-bpf -qq -e trace=open,openat -o "$log" "$@"
opened=$(grep -F "\"$dir/" "$log" | grep -v -e '= -1' -e O_DIRECTORY | sed -E 's/.*"([^"]*)".*/\1/' || true)
echo "opens $(grep -c . <<<"$opened" || true) distinct $(sort -u <<<"$opened" | grep -c . || true)" >&2
