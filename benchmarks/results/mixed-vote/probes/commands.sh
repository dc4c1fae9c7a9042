#!/bin/bash
# The probes of benchmarks/results/mixed-vote/probes (students at 250 sentences on existing teachers of runs/s24):
# teachers = the copied run, its voting run's teacher-2 and teacher-3, the scratch run and its voting run's teacher-2.
# MODE: majority (file mixed5-*), partial (partial5-*), agreed (agreed-*), gold-x4 (goldx4-*), every (every5-*).
# Usage: bash commands.sh SEED MODE NAME
set -e
S=$1 MODE=$2 NAME=$3
R=runs/s24/runs D=../shared/data/ner-wikipedia-ja
V=$R/char+classifier__n250__seed${S}__self-training+vote SV=$R/scratch__n250__seed${S}__self-training+vote
python benchmarks/teacher_vote_probe.py student-data --gold $V/gold.jsonl --output runs/pool/$NAME-c250s$S --mode $MODE \
    $R/char+classifier__n250__seed$S $V/teacher-2 $V/teacher-3 $R/scratch__n250__seed$S $SV/teacher-2
xlner transfer --source runs/s24/english --modules char,classifier --shared-bigrams --lang ja \
    --train runs/pool/$NAME-c250s$S/student_train.jsonl --validation $D/validation.jsonl --test $D/test.jsonl \
    --seed $S --threads 1 --output-dir runs/pool/$NAME-c250s$S/student
