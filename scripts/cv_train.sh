#!/usr/bin/env bash
# Leave-sites-out cross-validation of the shipped training recipe (models/MODEL.md), resumable.
#
# The 13 ABIDE sites form 4 folds of about 226 slices; each fold is held out once while the
# model trains on the other 9 sites, with the shipped recipe:
#   stage 1: 256², 23 planned epochs from PaddleSeg's initialisation;
#   stage 2: 320², 8 epochs fine-tuned from stage 1's LAST epoch (not its best: no selection on the
#            held-out fold), lr 5e-4, warm-up 50.
# then `radpipe evaluate --degraded --flip-tta --post largest` on the held-out sites of the last
# stage-2 epoch, written to FOLD/eval.json. Nothing is chosen on a held-out fold.
#
# Run it again at any time: a stage that finished is skipped, one that was interrupted resumes from
# its last checkpoint (one per epoch), so it runs across sessions. One fold at a time, in order, or
# name the folds to run: scripts/cv_train.sh [OUT_DIR] [FOLD...]
#
#   DATA=../shared/data/cc-abide RADPIPE=target/release/radpipe scripts/cv_train.sh train-cv 1 2
#
# DEVICE=gpu trains and evaluates on the GPU adapter (a lent GPU machine, docs/performance.md);
# the default is burn's CPU backend. RESULTS=DIR copies what a fold leaves that is worth keeping
# (each stage's metrics CSV, eval.json, worst.png: small files, no weights) to DIR/foldN/ as soon as
# it exists, so a session that ends mid-run leaves its finished stages in the repository
# (models/cv/ holds them; the checkpoints, 30 MB a stage, stay in OUT_DIR).
set -euo pipefail

OUT=${1:-train-cv}
shift || true
FOLDS=("$@")
[ ${#FOLDS[@]} -eq 0 ] && FOLDS=(1 2 3 4)
DATA=${DATA:-../shared/data/cc-abide}
RADPIPE=${RADPIPE:-target/release/radpipe}
# Smoke runs only (the figures in MODEL.md use the defaults): fewer epochs, smaller inputs, extra
# train options.
EPOCHS1=${EPOCHS1:-23}
EPOCHS2=${EPOCHS2:-8}
SIZE1=${SIZE1:-256}
SIZE2=${SIZE2:-320}
read -r -a EXTRA <<< "${TRAIN_EXTRA:-}"
DEVICE=${DEVICE:-cpu}
RESULTS=${RESULTS:-}

# keep FOLD_DIR FILE NAME: copies a finished result to $RESULTS/FOLD_DIR/NAME when RESULTS is set.
keep() {
    [ -n "$RESULTS" ] && [ -f "$2" ] || return 0
    mkdir -p "$RESULTS/$1"
    cp "$2" "$RESULTS/$1/$3"
}

fold_sites() {
    case $1 in
        1) echo "NYU,Stanford" ;;                 # 184 + 40 = 224
        2) echo "UM,MaxMun,SBL" ;;                # 145 + 57 + 30 = 232
        3) echo "UCLA,Pitt,Trinity,Olin" ;;       # 98 + 57 + 49 + 35 = 239
        4) echo "Leuven,Yale,KKI,SDSU" ;;         # 64 + 56 + 55 + 36 = 211
        *) echo "unknown fold $1" >&2; exit 2 ;;
    esac
}

# Epochs a run has finished: data lines of its metrics CSV.
done_epochs() {
    local csv=$1
    if [ -f "$csv" ]; then echo $(( $(wc -l < "$csv") - 1 )); else echo 0; fi
}

# train_stage DIR EPOCHS ARGS...: runs or resumes one stage until its planned epochs are done.
train_stage() {
    local dir=$1 epochs=$2
    shift 2
    mkdir -p "$dir"
    local have
    have=$(done_epochs "$dir/model.metrics.csv")
    if [ "$have" -ge "$epochs" ]; then
        echo "$dir: $have/$epochs epochs, done"
        return
    fi
    if [ -f "$dir/model.ckpt" ]; then
        echo "$dir: resuming after epoch $have of $epochs"
        "$RADPIPE" train --data "$DATA" -o "$dir/model.safetensors" --resume "$dir/model.ckpt" \
            --epochs "$epochs" --device "$DEVICE" --quiet
    else
        echo "$dir: starting, $epochs epochs"
        "$RADPIPE" train --data "$DATA" -o "$dir/model.safetensors" --epochs "$epochs" "$@" \
            --device "$DEVICE" ${EXTRA[@]+"${EXTRA[@]}"} --quiet
    fi
}

for fold in "${FOLDS[@]}"; do
    sites=$(fold_sites "$fold")
    dir="$OUT/fold$fold"
    echo "== fold $fold: held out $sites"
    train_stage "$dir/stage1" "$EPOCHS1" --size "$SIZE1" --batch 8 --val-sites "$sites"
    keep "fold$fold" "$dir/stage1/model.metrics.csv" stage1.metrics.csv
    train_stage "$dir/stage2" "$EPOCHS2" --size "$SIZE2" --batch 8 --val-sites "$sites" \
        --init "$dir/stage1/model.safetensors" --lr 5e-4 --warmup 50
    keep "fold$fold" "$dir/stage2/model.metrics.csv" stage2.metrics.csv
    if [ ! -f "$dir/eval.json" ]; then
        "$RADPIPE" evaluate --data "$DATA" --model "$dir/stage2/model.safetensors" --sites "$sites" \
            --degraded --flip-tta --post largest --device "$DEVICE" --json "$dir/eval.json" \
            --sheet "$dir/worst.png"
    fi
    keep "fold$fold" "$dir/eval.json" eval.json
    keep "fold$fold" "$dir/worst.png" worst.png
    echo "fold $fold: $dir/eval.json"
done
