#!/usr/bin/env bash
# Fresh machine -> .venv with edge-fer[all] -> the shipped defaults at work:
#   1. `edge-fer run` (YuNet + the shipped model) on a clip of FER2013 test faces -> emotions.jsonl
#   2. `edge-fer evaluate` of the shipped model on FER2013 test -> evaluation.json (+ PNG)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${EDGE_FER_DATA:-../shared/data/fer2013}"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all]"
mkdir -p quickstart
.venv/bin/python -m edge_fer.synthetic "$DATA/test" quickstart/demo.avi
.venv/bin/edge-fer -v run --source quickstart/demo.avi --log quickstart/emotions.jsonl
echo "emotion log: quickstart/emotions.jsonl ($(wc -l < quickstart/emotions.jsonl) records); last summary:"
grep '"type": *"summary"' quickstart/emotions.jsonl | tail -1
.venv/bin/edge-fer evaluate --data "$DATA/test" --json quickstart/evaluation.json
