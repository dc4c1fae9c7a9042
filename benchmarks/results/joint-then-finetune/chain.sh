#!/bin/bash
# usage: chain.sh SEED: joint training at 250, then Japanese-only fine-tuning from its output (every module)
s=$1
bash runs/jft/run.sh joint_250s$s runs/s24/english 250 $s --joint-data ../shared/data/conll2003/train.txt
bash runs/jft/run.sh ft_250s$s runs/jft/joint_250s$s 250 $s --modules word,char,classifier
