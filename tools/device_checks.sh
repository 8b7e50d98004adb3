#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one call on a lent GPU machine (session 24: one H200, 15 minutes of
# device time in all). Each part has its own time limit so that a slow part cannot starve the rest; the log
# and the figures land in $OUT (or ./device_out when run by hand). Parts, most wanted first:
#   1. the tests marked `gpu` (samplers seeded on CUDA and agreeing with the CPU; Tri-Ergon-S in bf16);
#   2. benchmarks/bench_model.py --gpu: Tri-Ergon-S/-L in bf16, 10 s and 60 s, 100 steps, CFG 7;
#   3. benchmarks/bench_training.py: the compact recipe's DiT and autoencoder stages, steps per second on the
#      GPU against 2 CPU threads of the same machine;
#   4. bench_model.py --gpu --compile, if time is left.
# It needs only the machine's own python3 with torch (no project install, no weights: all random).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
LOG=$OUT/device_checks.log
BUDGET=${DEVICE_BUDGET_S:-540}
START=$(date +%s)
part() {  # $1: seconds wanted, then the command; runs it for at most what is left of the budget
    local want=$1 left
    shift
    left=$((BUDGET - ($(date +%s) - START) - 10))
    [ "$left" -lt 30 ] && { echo "== skipped (budget spent): $*" | tee -a "$LOG"; return; }
    [ "$want" -gt "$left" ] && want=$left
    echo "== $(date -u +%T) (${want} s at most): $*" | tee -a "$LOG"
    timeout "$want" "$@" 2>&1 | tee -a "$LOG"
    echo "== rc ${PIPESTATUS[0]} after $(($(date +%s) - START)) s" | tee -a "$LOG"
}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    python3 -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA', platform.python_version())"
    nproc
} 2>&1 | tee "$LOG"
part 150 python3 -m pytest -m gpu -p no:cacheprovider -q tests/engine/test_sampling.py tests/engine/test_triergon.py
part 200 python3 benchmarks/bench_model.py --gpu --cpu-presets
part 240 python3 benchmarks/bench_training.py --workers 14 --cpu-steps 6 --json "$OUT/bench_training.json"
part 200 python3 benchmarks/bench_model.py --gpu --compile --cpu-presets
echo "== done after $(($(date +%s) - START)) s" | tee -a "$LOG"
