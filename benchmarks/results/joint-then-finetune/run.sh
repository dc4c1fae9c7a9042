#!/bin/bash
# usage: run.sh NAME SOURCE|scratch SIZE SEED [extra args]
name=$1; source=$2; size=$3; seed=$4; shift 4
J=../shared/data/ner-wikipedia-ja
if [ "$source" = scratch ]; then cmd=(train); else cmd=(transfer --source $source --modules char,classifier --shared-bigrams); fi
OMP_WAIT_POLICY=PASSIVE .venv/bin/xlner "${cmd[@]}" --lang ja \
  --train $J/train.jsonl --validation $J/validation.jsonl --test $J/test.jsonl --max-train-samples $size \
  --output-dir runs/jft/$name --seed $seed --threads 1 "$@" > runs/jft/$name.log 2>&1
python3 -c "import json;d=json.load(open('runs/jft/$name/results.json'));print('$name', 'test', round(d['test']['f1']*100,1), 'valid', round(d['validation']['f1']*100,1), 'best', d['best_epoch'])" >> runs/jft/summary.txt
