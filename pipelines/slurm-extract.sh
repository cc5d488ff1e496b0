#!/bin/bash
# Extract a large dataset across a Slurm cluster: one array task per shard, then one merge job.
#   sbatch pipelines/slurm-extract.sh            (submits the array; the merge runs after it)
# Every task opens only its own shard's files (shards are chosen by a hash of each file's path) from shared
# storage and writes only its own shard's cache; a rerun opens only the files whose stat data changed.
#SBATCH --job-name=headstart-extract
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=out/slurm/extract-%A_%a.log
set -euo pipefail

SHARDS=8                                   # keep equal to the --array size
DATASET=data/PetImages
WEIGHTS=data/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5
OUT=out/cats-vs-dogs-full

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    headstart extract "$DATASET" --validation-split 0.1 --weights "$WEIGHTS" \
        --cache "$OUT/shards/shard-$SLURM_ARRAY_TASK_ID" --shard "$SLURM_ARRAY_TASK_ID/$SHARDS"
    exit 0
fi

# Submitted without an array index: submit the array, then the merge, which waits for every task to succeed.
mkdir -p out/slurm
array=$(sbatch --parsable "$0")
sbatch --dependency=afterok:"$array" --job-name=headstart-merge --output=out/slurm/merge-%j.log \
    --wrap="headstart cache merge $OUT/shards/shard-* --out $OUT/cache"
