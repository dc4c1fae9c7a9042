#!/bin/bash
# usage: chain.sh SIZE SEED: joint training, then Japanese-only fine-tuning from its output (every module)
size=$1; s=$2
bash benchmarks/run_japanese.sh runs/jft joint_${size}s$s runs/s24/english $size $s --joint-data ../shared/data/conll2003/train.txt
bash benchmarks/run_japanese.sh runs/jft ft_${size}s$s runs/jft/joint_${size}s$s $size $s --modules word,char,classifier
