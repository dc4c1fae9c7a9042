#!/bin/bash
# One Japanese run of the transfer experiments in the README, its headline appended to DIR/summary.txt.
# usage: benchmarks/run_japanese.sh DIR NAME SOURCE|scratch SIZE SEED [extra xlner args]
#   SOURCE: char,classifier copied with shared bigrams (extra --modules overrides); scratch: `xlner train`
dir=$1; name=$2; source=$3; size=$4; seed=$5; shift 5
J=../shared/data/ner-wikipedia-ja
if [ "$source" = scratch ]; then cmd=(train); else cmd=(transfer --source "$source" --modules char,classifier --shared-bigrams); fi
mkdir -p "$dir"
OMP_WAIT_POLICY=PASSIVE xlner "${cmd[@]}" --lang ja \
  --train $J/train.jsonl --validation $J/validation.jsonl --test $J/test.jsonl --max-train-samples "$size" \
  --output-dir "$dir/$name" --seed "$seed" --threads 1 "$@" > "$dir/$name.log" 2>&1
python3 -c "import json, sys; d = json.load(open(sys.argv[1] + '/results.json')); print(sys.argv[2], 'test', round(d['test']['f1'] * 100, 1), 'valid', round(d['validation']['f1'] * 100, 1), 'best', d['best_epoch'])" "$dir/$name" "$name" >> "$dir/summary.txt"
