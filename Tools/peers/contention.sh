#!/usr/bin/env bash
# Batch-1 latency of headstart and TensorFlow Lite while one busy-loop process at normal priority shares the two
# cores (BENCHMARKS.md, issue 18): how each degrades when a thread of it is preempted mid-step.
#
#   bash Tools/peers/contention.sh [PYTHON] [WEIGHTS]
#
# PYTHON is the peers' venv (see side_by_side.sh); WEIGHTS a notop .h5 for the peer. Build first: swift build -c release.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${1:-${HEADSTART_PEERS_PYTHON:-python3}}"
weights=()
[ $# -ge 2 ] && weights=(--weights "$2")
[ -x .build/release/headstart-bench ] || { echo "build first: swift build -c release" >&2; exit 1; }
sh -c 'while :; do :; done' &
hog=$!
trap 'kill $hog' EXIT
sleep 0.5
.build/release/headstart-bench network --batch 1 --iterations 200 | tail -1
"$python" Tools/peers/benchmark_peers.py --batch 1 --iterations 200 --peers tflite "${weights[@]}" 2>/dev/null | grep images/s
