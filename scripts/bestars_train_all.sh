#!/bin/sh
# The committed runs of docs/bestars.md, in order: the FC on the imbalanced set (thesis Fig. 9.2),
# emission_fc and emission_cnn (trained, evaluated, exported), then every figure and table.
# Logs in runs/logs/. Wall times of the committed runs: docs/bestars.md ("Reproduce").
set -e
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p runs/logs
run() { log="runs/logs/$1.log"; shift; echo "$(date +%T) $*"; "$@" > "$log" 2>&1; }
run emission_fc_imbalanced python -m training.emission_fc --no-smote --no-export --docs --out runs/emission_fc_imbalanced
run emission_fc python -m training.emission_fc --docs
run emission_cnn python -m training.emission_cnn --docs
run emission_figures python scripts/bestars_figures.py
echo "$(date +%T) done"
