#!/bin/sh
# The committed runs of docs/racnet.md (the commands that reproduce them), then the refit of the
# out-of-domain references, the figures/tables and the benchmark:
#   racnet_fgk (8 min of training), racnet_ds2 (6 min), racnet_ds1 (2.5 min) -- exported;
#   the DS1 ablations of Table 4 (RC-Net, C-Net, 2.5 min each as RAC-Net DS1) and the FC baseline
#   of Table 2.  DS2/DS3 ablations were left out for the CPU budget; run them with
#   `python -m training.racnet --task ds2|ds3 --arch rcnet|cnet --no-export`.
# Logs in runs/racnet_logs/.  Wall times of the committed runs (shared 2-core CPU): docs/racnet.md.
set -e
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p runs/racnet_logs
run() { log="runs/racnet_logs/$1.log"; shift; echo "$(date +%T) $*"; nice -n 5 "$@" > "$log" 2>&1; }
run racnet_fgk python -m training.racnet --task ds3 --docs
run racnet_ds2 python -m training.racnet --task ds2 --docs
for a in rcnet cnet fcnet; do run "${a}_ds1" python -m training.racnet --task ds1 --arch $a --no-export; done
run racnet_ds1 python -m training.racnet --task ds1 --docs
run refit python scripts/racnet_refit_trust.py racnet_ds1 racnet_ds2 racnet_fgk
run calibration python scripts/racnet_mk_calibration.py
run docs python scripts/racnet_docs.py
run benchmark python benchmarks/racnet_throughput.py
echo "$(date +%T) done"
