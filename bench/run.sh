#!/usr/bin/env bash
# The benchmark suite: classifier latency table, then edge-fer vs fer end to end.
# Usage: bash bench/run.sh [MODEL] [end_to_end.py options...]
#   MODEL: a folder from `edge-fer convert` (manifest.json), a .tflite/.xml file, or a .keras
#          model (converted first) [default: the shipped model, edge_fer/models/default].
# Pause other CPU load while it runs: figures are only as quiet as the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
MODEL=${1:-edge_fer/models/default}
shift || true
if [ -d "$MODEL" ] && [ ! -f "$MODEL/manifest.json" ]; then
    echo "bench: $MODEL has no manifest.json; convert a model with \`edge-fer convert\`" >&2
    exit 2
fi
echo "== classifier latency"
"$PY" bench/classifier.py --model "$MODEL"
echo
echo "== end to end: edge-fer vs fer"
"$PY" bench/end_to_end.py --model "$MODEL" "$@"
