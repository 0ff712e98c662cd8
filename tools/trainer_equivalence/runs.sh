#!/bin/bash
# The reference runs of tools/trainer_equivalence/README.md: ~3 min on 2 idle cores.
# Usage (from the repository root): [PYTHON=.venv/bin/python] tools/trainer_equivalence/runs.sh OUTDIR
set -u
O=$1; rm -rf $O; mkdir -p $O
export PYTHONPATH=$PWD OMP_NUM_THREADS=1
PY=${PYTHON:-python}
run() { name=$1; shift; "$PY" -m dropkit.cli.main "$@" > $O/$name.out 2> $O/$name.err; echo "rc=$?" >> $O/$name.out; }
run demo compare --preset mnist1d --out $O/demo
run sched train --dataset mnist1d --hidden 64,64 --p 0.3 --p-schedule linear --steps 300 --eval-every 50 --checkpoint-every 100 --l2 1e-4 --max-norm 3 --grad-clip 1 --lr-schedule cosine --no-progress --out $O/sched
run curr train --dataset digits --hidden 32 --p 0.5 --p-schedule curriculum --p-schedule-gamma 0.01 --steps 120 --eval-every 40 --warmup-steps 10 --min-lr 1e-4 --optimizer sgd --lr 0.1 --val-fraction 0 --no-progress --out $O/curr
run gpt train --preset shakespeare-gpt-cpu --steps 12 --eval-every 6 --eval-windows 8 --no-progress --out $O/gpt
run awd train --preset shakespeare-awd-lstm --steps 12 --eval-every 6 --eval-windows 8 --no-progress --out $O/awd
run cnn train --preset mnist1d-cnn --steps 40 --eval-every 20 --no-progress --out $O/cnn
# resume: a shorter run, then extended (deterministic)
run res1 train --dataset mnist1d --p 0.4 --steps 100 --eval-every 25 --checkpoint-every 50 --keep-checkpoints 2 --no-progress --out $O/res
run res2 train --dataset mnist1d --p 0.4 --steps 210 --eval-every 25 --checkpoint-every 50 --keep-checkpoints 2 --no-progress --out $O/res --resume
# resume from the middle checkpoint after deleting the newest one and the final model (as after a kill)
cp -r $O/res $O/res_mid; rm -f $O/res_mid/checkpoints/step_00000210.safetensors $O/res_mid/model.safetensors
run res3 train --dataset mnist1d --p 0.4 --steps 210 --eval-every 25 --checkpoint-every 50 --keep-checkpoints 2 --no-progress --out $O/res_mid --resume
# a real interrupt: SIGTERM once the step-400 checkpoint exists, then resume
( "$PY" -m dropkit.cli.main train --dataset mnist1d --hidden 256,256 --p 0.3 --steps 8000 --eval-every 400 --checkpoint-every 400 --no-progress --out $O/intr > $O/intr1.out 2> $O/intr1.err & pid=$!; for i in $(seq 600); do ls $O/intr/checkpoints/step_00000400.safetensors >/dev/null 2>&1 && break; sleep 0.1; done; kill -TERM $pid; wait $pid; echo "rc=$?" >> $O/intr1.out )
run intr2 train --dataset mnist1d --hidden 256,256 --p 0.3 --steps 8000 --eval-every 400 --checkpoint-every 400 --no-progress --out $O/intr --resume
run ddp train --nproc 2 --dataset digits --hidden 32 --p 0.5 --steps 60 --eval-every 20 --no-progress --out $O/ddp
run diverge train --dataset digits --hidden 32 --optimizer sgd --lr 1e20 --steps 50 --eval-every 10 --no-progress --out $O/diverge
# errors
run err_exists train --dataset mnist1d --steps 10 --no-progress --out $O/res
run err_cfg train --dataset mnist1d --p 0.1 --steps 210 --eval-every 25 --checkpoint-every 50 --keep-checkpoints 2 --no-progress --out $O/res --resume
run err_past train --dataset mnist1d --p 0.4 --steps 50 --eval-every 25 --checkpoint-every 50 --keep-checkpoints 2 --no-progress --out $O/res --resume
run prog train --dataset digits --hidden 32 --p 0.2 --steps 60 --eval-every 20 --progress true --out $O/prog
echo done > $O/DONE
