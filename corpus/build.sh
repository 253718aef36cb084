#!/usr/bin/env bash
# Build a corpus in the background: two lanes of single-threaded studies.
# Usage (from anywhere): [CORPUS=v2|v1] corpus/build.sh [DATA_DIR]   (default: $ORS_DATA_DIR)
# Rerun to resume; logs: corpus/logs/lane*.log and one log per task.
# Then: python corpus/build.py --corpus $CORPUS --export
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${1:-${ORS_DATA_DIR:?pass the data folder or set ORS_DATA_DIR}}"
LANES="${LANES:-2}"
CORPUS="${CORPUS:-v2}"
STORAGE="sqlite:///corpus/recsys-corpus-$CORPUS.db"
LOGS="corpus/logs/$CORPUS"
mkdir -p "$LOGS"
# Create the database once, before the lanes race to create its tables.
python -c 'import sys, optuna; optuna.storages.get_storage(sys.argv[1])' "$STORAGE"
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for ((lane = 0; lane < LANES; lane++)); do
  nohup python corpus/build.py --corpus "$CORPUS" --data-dir "$DATA_DIR" \
    --storage "$STORAGE" --logs "$LOGS" --lane "$lane" --lanes "$LANES" \
    >>"$LOGS/lane$lane.log" 2>&1 &
  echo "lane $lane: pid $! (log $LOGS/lane$lane.log)"
done
