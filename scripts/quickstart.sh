#!/usr/bin/env bash
# Fresh machine -> .venv with edge-fer[all] -> the shipped default model scored on FER2013 test.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${EDGE_FER_DATA:-../shared/data/fer2013}"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all]"
.venv/bin/edge-fer evaluate --data "$DATA/test" --json evaluation.json
