#!/bin/sh
# The committed runs of docs/racnet.md (2026-12-04, issue #19), one job at a time:
#   the exported RAC-Nets (each fits its own trust, pca_knn_tpl), then the DS1 ablations of Table 4
#   at the same recipe (equal data, one early-stopping rule), then the collected tables and figures.
# Logs in runs/racnet_logs/.  Wall times, epochs and load averages are in the cards and
# docs/results/racnet_table4.json.
set -e
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p runs/racnet_logs
run() { log="runs/racnet_logs/$1.log"; shift; echo "$(date +%T) $*"; "$@" > "$log" 2>&1; }
run racnet_fgk python -m training.racnet --task ds3 --docs
run racnet_ds2 python -m training.racnet --task ds2 --docs
run racnet_ds1 python -m training.racnet --task ds1 --docs
for a in cnet rcnet fcnet; do run "${a}_ds1" python -m training.racnet --task ds1 --arch $a --no-export; done
run table4 python scripts/racnet_table4.py
run real_dev python scripts/racnet_real_dev.py --label after
run figures python scripts/racnet_docs.py
run render python -m evaluation.render
echo "$(date +%T) done"
