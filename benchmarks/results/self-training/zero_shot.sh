#!/bin/bash
# Zero-shot self-training (issue 14): the translated-rows zero-shot model (English source runs/s24/english, map
# runs/s24/ja_en_map.pt from `xlner word-space --output runs/s24/ja_en_map.pt`) tags the 4,274 Stockmark training
# texts (labels unread) and the validation texts; a student copied the same way learns those tags. No Japanese label
# is read at any step; the test set is scored with its types collapsed (人名 → PER, ...).
# usage: bash benchmarks/results/self-training/zero_shot.sh SEED   (needs xlner on PATH)
seed=$1; J=../shared/data/ner-wikipedia-ja; out=runs/zs-st/seed$seed
mkdir -p runs/zs-st
OMP_WAIT_POLICY=PASSIVE xlner transfer --source runs/s24/english --lang ja \
  --train $J/train.jsonl --validation $J/validation.jsonl --test $J/test.jsonl \
  --modules word,char,classifier --word-space-map runs/s24/ja_en_map.pt --script-shapes --translated-word-rows --shared-bigrams \
  --zero-shot --unlabeled-data $J/train.jsonl --seed "$seed" --threads 1 --output-dir "$out" > "$out.log" 2>&1
python3 -c "import json, sys; d = json.load(open(sys.argv[1] + '/zero_shot.json')); print(sys.argv[1], 'student', round(100 * d['test']['f1'], 1), 'teacher', round(100 * d['teacher']['test']['f1'], 1), 'best epoch', d['self_training']['best_epoch'])" "$out" >> runs/zs-st/summary.txt
