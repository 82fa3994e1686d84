#!/usr/bin/env bash
# Leak check: ONE server, ROUNDS identical rounds of N listener calls (ramp at 250/s, HOLD s
# each), RSS / threads / fds read SETTLE s after every round. RSS that climbs once (SQLite page
# cache, allocator arenas) and then stays flat is a bounded cache; RSS that climbs every round
# is a leak.
#   bench/run-repeat.sh            # N=1000, 3 rounds
# Env: N (1000), ROUNDS (3), HOLD (10), SETTLE (20).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
build_all
raise_limits

N=${N:-1000}; ROUNDS=${ROUNDS:-3}; HOLD=${HOLD:-10}; SETTLE=${SETTLE:-20}; RATE=250
STAMP=$(date +%Y%m%d-%H%M%S)
CSV=$RESULTS/repeat.csv
start_server $((N + 1000))
"${NICE[@]}" "$PROBE_BIN" --port "$PROBE_PORT" --rtcp --duration $(( ROUNDS * (N / RATE + HOLD + SETTLE + 15) )) \
    --quiet >/dev/null 2>&1 &   # sinks the RTP (and is stopped at the end)
SINK=$!
cleanup_pids+=("$SINK")
line="rounds:"
for r in $(seq 1 "$ROUNDS"); do
    tag="repeat-$STAMP-$r"
    (cd "$RESULTS/logs" && timeout -k 5 -s INT $((N / RATE + HOLD + 60)) "${NICE[@]}" \
        sipp "127.0.0.1:$SIP_PORT" -sf "$BENCH_DIR/sipp/listener.xml" -s 311 -i 127.0.0.1 -p "$SIPP_PORT" -t u1 \
        -key probe_port "$PROBE_PORT" -d $(( (N / RATE + HOLD) * 1000 )) -r "$RATE" -rp 1000 -m "$N" -l "$N" \
        -buff_size 4194304 -nostdin -trace_stat -stf "$tag.stat.csv" -fd 1 >"$tag.sipp.txt" 2>&1)
    rc=$?
    peak=$(rss_kb "$SERVER_PID")
    wait_drain "$SETTLE"
    fail=$(sipp_stat "$RESULTS/logs/$tag.stat.csv" "FailedCall(C)")
    csv_append "$CSV" "date,rev,n,round,sipp_rc,failed,rss_base_kb,rss_end_of_round_kb,rss_after_kb,threads_after,fds_after,live_after,server_alive" \
        "$STAMP,$(git_rev),$N,$r,$rc,$fail,$BASE_RSS,$peak,$D_RSS,$D_THREADS,$D_FDS,$D_LIVE,$D_ALIVE"
    line="$line $r: ${D_RSS} kB;"
done
kill -TERM "$SINK" 2>/dev/null
keep_server_log "repeat-$STAMP"
log "REPEAT N=$N: baseline ${BASE_RSS} kB; RSS after each round (+${SETTLE}s): $line"
