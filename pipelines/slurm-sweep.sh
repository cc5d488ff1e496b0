#!/bin/bash
# Sweep many heads across a Slurm cluster: one array task per shard of the configs, then one merge job.
#   sbatch pipelines/slurm-sweep.sh              (submits the array; the merge runs after it)
# Each task trains only the configs whose id (a hash of their settings) falls in its shard, reading the cache
# read-only from shared storage, into its own folder; `headstart sweep merge` then writes the sweep.csv,
# sweep.json, best.h5 and validation-curves.svg of the unsharded sweep. A requeued task resumes: configs whose
# results were saved are not trained again. Successive halving cannot be sharded (each rung ranks every config).
#SBATCH --job-name=headstart-sweep
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=out/slurm/sweep-%A_%a.log
set -euo pipefail

SHARDS=8                                   # keep equal to the --array size
CACHE=out/cats-vs-dogs-full/cache
OUT=out/cats-vs-dogs-full/sweep
GRID=(--lr 1e-4,3e-4,1e-3 --hidden 256,512,1024 --dropout 0,0.2,0.5 --batch 20,32 --epochs 40)   # 54 configs

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    headstart sweep "$CACHE" "${GRID[@]}" --out "$OUT/shards/shard-$SLURM_ARRAY_TASK_ID" \
        --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --memory-gb 6
    exit 0
fi

# Submitted without an array index: submit the array, then the merge, which waits for every task to succeed.
mkdir -p out/slurm
array=$(sbatch --parsable "$0")
sbatch --dependency=afterok:"$array" --job-name=headstart-sweep-merge --output=out/slurm/sweep-merge-%j.log \
    --wrap="headstart sweep merge $OUT/shards/shard-* --out $OUT/merged"
