#!/usr/bin/env bash
# Train the runs behind the model zoo (tools/zoo_queue.txt) as resumable background work: one single-threaded
# worker per core, each taking the next line that no worker has claimed. Run the same command again after an
# interruption: finished runs are skipped and a half-trained one continues from its newest checkpoint.
#
#   nohup bash tools/train_zoo.sh [RUN_DIR] [WORKERS] > zoo-train.log 2>&1 &
#
# Each finished run is exported into the model zoo (stnlib/pretrained/weights) as it ends; commit the new weights
# and zoo.json. A line whose command the zoo already records is skipped (delete that record to retrain it).
# `python -m stnlib.pretrained` lists what the zoo holds.
set -uo pipefail
cd "$(dirname "$0")/.."
run_dir=${1:-runs/zoo}
workers=${2:-$(nproc)}
python=${PYTHON:-.venv/bin/python}
claims="$run_dir/.claims"
index=stnlib/pretrained/weights/zoo.json
rm -rf "$claims"
mkdir -p "$claims"

worker() {
  grep -v -e '^#' -e '^[[:space:]]*$' tools/zoo_queue.txt | while read -r line; do
    key=$(echo "$line" | tr -s ' -' '_')
    grep -qF "\"python -m stnlib.experiments $line --run-dir" "$index" && continue  # already in the zoo
    mkdir "$claims/$key" 2>/dev/null || continue  # another worker has it
    echo "[worker $1] $(date -u +%FT%TZ) start: $line"
    # shellcheck disable=SC2086  # the line is a list of arguments
    OMP_NUM_THREADS=1 "$python" -m stnlib.experiments $line --run-dir "$run_dir" --no-progress --export \
      || echo "[worker $1] FAILED: $line"
    echo "[worker $1] $(date -u +%FT%TZ) end: $line"
  done
}

for i in $(seq "$workers"); do
  worker "$i" &
done
wait
