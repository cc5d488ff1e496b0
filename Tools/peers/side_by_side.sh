#!/usr/bin/env bash
# Stage one against its float32 peers, side by side on this host (BENCHMARKS.md, issue 18): each round runs
# headstart-bench, then the peers, at batch 32 and at batch 1, so the figures of one round share the machine's
# state; several rounds show how much it drifts. Prints the host's CPU first.
#
#   bash Tools/peers/side_by_side.sh [ROUNDS] [PYTHON] [WEIGHTS]
#
# ROUNDS defaults to 3; PYTHON is a venv with tensorflow-cpu onnxruntime openvino onnx tf2onnx h5py (outside the
# repository; default $HEADSTART_PEERS_PYTHON or python3); WEIGHTS is a notop .h5 for the peers (optional: speed
# does not depend on the weights). Build first: swift build -c release.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
python="${2:-${HEADSTART_PEERS_PYTHON:-python3}}"
weights=()
[ $# -ge 3 ] && weights=(--weights "$3")
case "$rounds" in ''|*[!0-9]*) echo "usage: $0 [ROUNDS] [PYTHON] [WEIGHTS]" >&2; exit 2 ;; esac
[ -x .build/release/headstart-bench ] || { echo "build first: swift build -c release" >&2; exit 1; }
lscpu | grep -E '^(Model name|CPU family|Model|CPU\(s\)):'
echo "vector extensions: $(grep -o -w -E 'avx2|fma|avx512f|avx512bw|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
peers=onnxruntime,openvino,tflite
for r in $(seq "$rounds"); do
    echo "— round $r"
    .build/release/headstart-bench network --batch 32 --iterations 20 | tail -1
    "$python" Tools/peers/benchmark_peers.py --batch 32 --iterations 20 --peers "$peers" "${weights[@]}" 2>/dev/null | grep images/s
    .build/release/headstart-bench network --batch 1 --iterations 200 | tail -1
    "$python" Tools/peers/benchmark_peers.py --batch 1 --iterations 200 --peers "$peers" "${weights[@]}" 2>/dev/null | grep images/s
done
