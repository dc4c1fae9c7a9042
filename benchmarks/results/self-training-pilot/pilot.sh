#!/bin/bash
# self-training pilot at 250, seed $1: teachers (scratch, copy), pseudo-labels, students
s=$1; J=../shared/data/ner-wikipedia-ja
bash benchmarks/run_japanese.sh runs/st teacher_scratch_s$s scratch 250 $s &
bash benchmarks/run_japanese.sh runs/st teacher_copy_s$s runs/s24/english 250 $s &
wait
python benchmarks/results/self-training-pilot/pseudo.py $J/train.jsonl 250 $s runs/st/teacher_scratch_s$s runs/st/pseudo_scratch_s$s.jsonl &
python benchmarks/results/self-training-pilot/pseudo.py $J/train.jsonl 250 $s runs/st/teacher_copy_s$s runs/st/pseudo_copy_s$s.jsonl &
wait
bash benchmarks/run_japanese.sh runs/st student_scratch_s$s scratch 99999 $s --train runs/st/pseudo_scratch_s$s.jsonl &
bash benchmarks/run_japanese.sh runs/st student_copy_s$s runs/s24/english 99999 $s --train runs/st/pseudo_copy_s$s.jsonl &
wait
