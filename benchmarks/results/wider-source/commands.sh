#!/bin/bash
# The wider-source runs: the English source, then copy and same-width scratch at 250 sentences, seeds 1-3.
D=../shared/data/conll2003
xlner train --lang en --train $D/train.txt --validation $D/valid.txt --test $D/test.txt --output-dir runs/big/english-h300 \
  --epochs 20 --patience 5 --batch-size 32 --seed 1 --threads 1 --set context_hidden_size=300
for s in 1 2 3; do
  bash benchmarks/run_japanese.sh runs/big h300copy_250s$s runs/big/english-h300 250 $s
  bash benchmarks/run_japanese.sh runs/big h300scratch_250s$s scratch 250 $s --set context_hidden_size=300
done
