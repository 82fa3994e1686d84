#!/usr/bin/env bash
# Every benchmark in turn: setup rate, concurrency 500/1000/2000/5000, overload.
# About 15 minutes on a 2-core machine. Results: bench/results/*.csv, raw logs in bench/results/logs/.
#   bench/run-all.sh
# Env: CONC_NS ("500 1000 2000 5000") and every variable the individual scripts take.
set -uo pipefail
cd "$(dirname "$0")"
source ./lib.sh
trap - EXIT
build_all
{ echo "machine: $(machine_line)"; echo "rev: $(git_rev)"; date; } | tee "$RESULTS/logs/run-all-$(date +%Y%m%d-%H%M%S).txt"
./run-setup-rate.sh
for n in ${CONC_NS:-500 1000 2000 5000}; do
    ./run-concurrency.sh "$n"
done
./run-overload.sh
log "done: see $RESULTS/setup-rate.csv, concurrency.csv, overload.csv"
