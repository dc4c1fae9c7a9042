#!/bin/bash
# usage: chain.sh SEED: joint training at 500, then Japanese-only fine-tuning from its output (every module)
s=$1
bash runs/jft/run.sh joint_500s$s runs/s24/english 500 $s --joint-data ../shared/data/conll2003/train.txt
bash runs/jft/run.sh ft_500s$s runs/jft/joint_500s$s 500 $s --modules word,char,classifier
