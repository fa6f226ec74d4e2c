#!/bin/bash
# One device call, from the repository root: unpack .gpu/, train each run in RUNS for one
# probe epoch, resume it to as many epochs as the time left allows, export float16 weights.
# Runs share one GPU by time-slicing: on an H200 three Keras-on-PyTorch runs at once took
# 52-79 s an epoch each (25,837 faces, batch 256, 8 sizes), no faster in all than one by one.
set -u
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET:-540}))
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
WORK=${WORK:-/tmp/work}; mkdir -p "$WORK/runs"
el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
if [ -z "${SKIP_PIP:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl || exit 1
  export PYTHONPATH=$PWD:/tmp/site
fi
export KERAS_BACKEND=${KERAS_BACKEND:-torch} PYTHONUNBUFFERED=1 OPENCV_FOR_THREADS_NUM=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
el unpack
$PY scripts/gpu/unpack.py "$WORK/fer/train" "$WORK/init.keras" .gpu || exit 1
SIZES=${SIZES:-48,64,80,96,112,128,144,160}
COMMON="--data $WORK/fer/train --resolution 64 --resolutions $SIZES --output-stride 16 --weights $WORK/init.keras --batch-size ${BATCH:-256} --warmup-epochs 1 --class-weights sqrt --label-smoothing 0.1 --patience 100 --threads 4 ${EXTRA:-}"
declare -A R
R[r1]=${R1:-"--lr 5e-4 --augment light --val-fraction 0.1"}
R[r2]=${R2:-"--lr 5e-4 --augment light --val-fraction 0"}
R[r3]=${R3:-"--lr 5e-4 --augment medium --erase 0.25 --mixup 0.2 --val-fraction 0.1"}
RUNS=${RUNS:-r1}
( while sleep 60; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null | sed "s/^/[gpu] /"; done ) &
MON=$!
el probe epoch
PIDS=""
for r in $RUNS; do
  $PY -m edge_fer train $COMMON ${R[$r]} --out "$WORK/runs/$r" --epochs 1 > "$WORK/runs/$r.log" 2>&1 &
  PIDS="$PIDS $!"
done
wait $PIDS  # not a bare wait: that would wait for the monitor, forever
for r in $RUNS; do tail -2 "$WORK/runs/$r.log"; done
SLOWEST=$(for r in $RUNS; do tail -1 "$WORK/runs/$r/history.csv" | awk -F, '{print int($7+0.5)}'; done | sort -n | tail -1)
LEFT=$(( DEADLINE - $(date +%s) - 45 ))
EPOCHS=$(( 1 + LEFT / (${SLOWEST:-999} + 2) ))
[ "$EPOCHS" -gt "${MAX_EPOCHS:-60}" ] && EPOCHS=${MAX_EPOCHS:-60}
el "slowest epoch ${SLOWEST}s, ${LEFT}s left: resume to $EPOCHS epochs"
PIDS=""
for r in $RUNS; do
  timeout $(( DEADLINE - $(date +%s) - 25 )) $PY -m edge_fer train $COMMON ${R[$r]} --out "$WORK/runs/$r" --epochs $EPOCHS --resume >> "$WORK/runs/$r.log" 2>&1 &
  PIDS="$PIDS $!"
done
wait $PIDS
kill $MON 2>/dev/null
el trained
for r in $RUNS; do echo "== $r"; grep "^epoch\|best\|rror" "$WORK/runs/$r.log" | tail -40; done
$PY scripts/gpu/export.py "$OUT" $(for r in $RUNS; do echo "$WORK/runs/$r"; done)
for r in $RUNS; do tar czf "$OUT/$r.tgz" -C "$WORK/runs" "$r.log" "$r/history.csv" "$r/model.card.json" 2>/dev/null; done
el done
ls -la "$OUT"
