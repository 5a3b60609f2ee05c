#!/usr/bin/env bash
# Runs radpipe's GPU figures and GPU-vs-CPU checks on a machine with a real GPU, from binaries packed
# by scripts/gpu_pack.sh (no toolchain or network needed there). Writes logs and JSON to $OUT (default
# ./gpu-check-out) as bench.json plus logs.tar.gz (the device tool returns at most 8 files). Every step
# has its own time limit so one hang cannot eat the rest.
# Usage: bash scripts/gpu_check.sh   (from the repository root)
# A dry run on a CPU adapter: GPU_CHECK_SIZES=256 GPU_CHECK_ITERS=2 GPU_CHECK_EVAL_SITES=SBL
#   GPU_TRAIN_SIZE=64 GPU_CHECK_SECONDS=400 bash scripts/gpu_check.sh
# The cross-validation instead of the sized training run: GPU_CHECK_CV="1 2" (see below).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
deadline=$((start + ${GPU_CHECK_SECONDS:-570}))
root=$PWD
dest=${OUT:-$root/gpu-check-out}
out=$(mktemp -d)
mkdir -p "$dest"
trap 'cp "$out/bench.json" "$out"/train/model.best.safetensors "$dest/" 2>/dev/null; tar -C "$out" -czf "$dest/logs.tar.gz" .' EXIT
log() { echo "== $* ($(date +%T))"; }

# Vulkan loader, if the machine lacks one (.gl/*.deb, see docs/performance.md, "On a lent GPU machine").
if ! ldconfig -p | grep -q 'libvulkan.so.1' && ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

bin=$root/target/release
mkdir -p "$bin"
tar -C "$bin" -xJf .devcarry/bins.tar.xz
# Test binaries find fixtures through the path they were built at.
built_at=${RADPIPE_BUILT_AT:-/work/main}
if [ "$built_at" != "$root" ] && [ ! -e "$built_at" ]; then
  mkdir -p "$(dirname "$built_at")" && ln -s "$root" "$built_at"
fi

log machine
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.draw \
  --format=csv 2>&1 | tee "$out/nvidia_smi.txt"

log radpipe bench
timeout 120 "$bin/radpipe" bench --sizes "${GPU_CHECK_SIZES:-1024,4096,8192}" --iters "${GPU_CHECK_ITERS:-50}" --json "$out/bench.json" \
  2>&1 | tee "$out/bench.txt"

log GPU-vs-CPU tests
# seg_device: --device auto must pick the engine's own device on a real GPU (and every adapter forced by name).
for name in window_gpu_vs_cpu warp_gpu_vs_cpu histogram_gpu_vs_cpu stitch_gpu_vs_cpu seg_device; do
  timeout 120 "$bin/test_it" "$name::" --test-threads=4 >"$out/test_$name.log" 2>&1
  echo "$name: exit $? $(grep -E '^test result' "$out/test_$name.log" | tail -1)"
done | tee "$out/tests.txt"


log evaluate on the GPU
timeout 120 "$bin/radpipe" evaluate --data "${GPU_CHECK_DATA:-.devcarry/cc384}" --sites "${GPU_CHECK_EVAL_SITES:-Pitt,Yale,SBL}" \
  --device gpu 2>&1 | tee "$out/evaluate.txt"

# GPU_CHECK_CV="1 2": the leave-sites-out cross-validation folds named (scripts/cv_train.sh, the
# MODEL.md recipe, on the 384² copy) instead of the sized run below; their kept results (metrics CSVs,
# eval.json, worst.png) come back in logs.tar.gz under cv/, the weights stay behind. A fold that
# does not finish before the deadline leaves its finished stages. Dry run: add
# EPOCHS1=1 EPOCHS2=1 SIZE1=64 SIZE2=64 TRAIN_EXTRA="--steps-per-epoch 1 --val-limit 1".
data=${GPU_CHECK_DATA:-.devcarry/cc384}
if [ -n "${GPU_CHECK_CV:-}" ] && [ -d "$data" ]; then
  read -r -a folds <<< "$GPU_CHECK_CV"
  log cross-validation folds "${folds[@]}"
  weights=$(mktemp -d)
  DATA=$data DEVICE=gpu RADPIPE=$bin/radpipe RESULTS=$out/cv \
    timeout $((deadline - $(date +%s) - 10)) bash scripts/cv_train.sh "$weights" "${folds[@]}" >"$out/cv.log" 2>&1
  echo "cross-validation exit $?"
  grep -E '^(==|fold|.*(starting|resuming|done))' "$out/cv.log"
  command -v python3 >/dev/null && python3 scripts/cv_table.py "$out/cv" | tee "$out/cv_table.md"
  log done
  exit 0
fi

# Training on the GPU with whatever time is left: a short probe (2 epochs of 10 steps; the second is
# warm; the first, if it is all that finished, overestimates) gives the step time, then one run whose
# cosine schedule fits the remaining time (384², or 256² when fewer than 12 epochs of 384² would fit).
if [ -d "$data" ]; then
  mkdir -p "$out/probe" "$out/train"
  log train probe
  train=("$bin/radpipe" train --data "$data" --batch 8 --device gpu --val-sites Pitt,Yale,SBL -q)
  timeout 150 "${train[@]}" -o "$out/probe/m.safetensors" --size "${GPU_TRAIN_SIZE:-384}" --epochs 2 \
    --steps-per-epoch 10 --val-limit 4 >"$out/probe.log" 2>&1
  cat "$out/probe/m.metrics.csv" 2>/dev/null
  step=$(awk -F, 'NR >= 2 { v = $5 / $4 } END { print v }' "$out/probe/m.metrics.csv" 2>/dev/null)
  size=${GPU_TRAIN_SIZE:-384}
  left=$((deadline - $(date +%s) - 20))
  # An epoch: 95 steps plus the 143 validation images (about 8 steps' worth of forward passes).
  epochs=$(awk -v s="$step" -v l="$left" 'BEGIN { if (s > 0) print int(l / (s * 103 * 1.1 + 5)); else print 0 }')
  if [ "$epochs" -lt 12 ] && [ "$size" = 384 ]; then
    size=256
    epochs=$(awk -v s="$step" -v l="$left" 'BEGIN { if (s > 0) print int(l / (s / 2.25 * 103 * 1.1 + 5)); else print 0 }')
  fi
  [ "$epochs" -gt 100 ] && epochs=100
  echo "step ${step}s at ${GPU_TRAIN_SIZE:-384}², ${left}s left: $epochs epochs at ${size}²"
  if [ "$epochs" -ge 6 ]; then
    log train
    timeout $((deadline - $(date +%s))) "${train[@]}" -o "$out/train/model.safetensors" --size "$size" \
      --epochs "$epochs" >"$out/train.log" 2>&1
    echo "train exit $?"
    cat "$out/train/model.metrics.csv"
  fi
fi
log done
