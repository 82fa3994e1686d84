#!/usr/bin/env bash
# Concurrency: N simultaneous callers, each listening to the IVR prompts with RTP flowing.
# SIPp ramps N listener calls at RAMP_RATE calls/s; every call stays up for the ramp + HOLD
# seconds (+5 s margin) so that all N are up together for HOLD seconds, then hangs up (BYE).
# During the HOLD window the RTP probe measures every stream (jitter, loss, packets/s) and the
# server's CPU, RSS and the machine's CPU are sampled. Afterwards: live calls back to zero,
# RTP silent, threads/fds/RSS back near the baseline 40 s later.
#
#   bench/run-concurrency.sh 1000
# Env: RAMP_RATE (250), HOLD (30), SETTLE (40), MEDIA_THREADS (0 = one per core),
#      PROFILE=1 (perf record -g of the server for 10 s in the middle of the hold),
#      PROBE_RT=1 (probe at SCHED_FIFO; default normal priority: it reads kernel timestamps).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
build_all
raise_limits

N=${1:?usage: run-concurrency.sh N}
RATE=${RAMP_RATE:-250}
HOLD=${HOLD:-30}
SETTLE=${SETTLE:-40}
CSV=$RESULTS/concurrency.csv
STAMP=$(date +%Y%m%d-%H%M%S)
TAG="conc-$STAMP-$N"
RAMP=$(( (N + RATE - 1) / RATE ))
LISTEN_MS=$(( (RAMP + HOLD + 8) * 1000 ))
WARMUP=$((RAMP + 4))
STF=$RESULTS/logs/$TAG.stat.csv
PJ=$RESULTS/logs/$TAG.probe.json
TF=$RESULTS/logs/$TAG.sipp-time
TOPF=$RESULTS/logs/$TAG.top.txt

ports_needed=$(( N * 2 ))
ports_have=$(( RTP_MAX - RTP_MIN + 1 ))
(( ports_needed <= ports_have )) || die "RTP range $RTP_MIN-$RTP_MAX has $ports_have ports, $N calls need $ports_needed"

start_server $((N + 1000))
"${NICE[@]}" "$PROBE_BIN" --port "$PROBE_PORT" --rtcp --warmup "$WARMUP" --duration "$HOLD" --interval 10 \
    --min-packets 50 --label "$TAG" --json "$PJ" ${PROBE_RT:+--rt} >"$RESULTS/logs/$TAG.probe.txt" 2>&1 &
PROBE_PID=$!
cleanup_pids+=("$PROBE_PID")
sleep 0.3
log "N=$N: ramp ${RAMP}s at ${RATE}/s, each call listens $((LISTEN_MS / 1000))s, measuring ${HOLD}s from t=${WARMUP}s"

T0=$(now_s)
(cd "$RESULTS/logs" && timeout -k 5 -s INT $((RAMP + HOLD + 90)) /usr/bin/time -f '%U %S %e %M' -o "$TF" \
    "${NICE[@]}" sipp "127.0.0.1:$SIP_PORT" -sf "$BENCH_DIR/sipp/listener.xml" -s 311 -i 127.0.0.1 -p "$SIPP_PORT" -t u1 \
    -key probe_port "$PROBE_PORT" -d "$LISTEN_MS" \
    -r "$RATE" -rp 1000 -m "$N" -l "$N" -buff_size 4194304 -nostdin \
    -trace_stat -stf "$STF" -fd 1 -trace_err -error_file "$RESULTS/logs/$TAG.errors.log" \
    >"$RESULTS/logs/$TAG.sipp.txt" 2>&1) &
SIPP_JOB=$!

# The measured window: WARMUP .. WARMUP+HOLD after the start.
sleep "$WARMUP"
snap_begin
SIPP_PID=$(pgrep -n -f "^sipp 127.0.0.1:$SIP_PORT " || true)
SIPP_CPU0=$( [[ -n $SIPP_PID ]] && cpu_ticks "$SIPP_PID" || echo 0)
PROBE_CPU_NOTE=
( sleep $((HOLD / 2 - 2)); top_snapshot "$TOPF" ) &
if [[ ${PROFILE:-0} == 1 ]]; then
    ( sleep 5; perf record -e cpu-clock -F 499 -g -p "$SERVER_PID" -o "$RESULTS/logs/$TAG.perf.data" -- sleep 10 >/dev/null 2>&1 ) &
    PERF_JOB=$!
fi
sleep $((HOLD / 2))
MID_RSS=$(rss_kb "$SERVER_PID"); MID_THREADS=$(threads_of "$SERVER_PID"); MID_FDS=$(fds_of "$SERVER_PID")
sleep $((HOLD - HOLD / 2))
snap_end
HOLD_RSS=$(rss_kb "$SERVER_PID")
SIPP_CPU=$( [[ -n $SIPP_PID ]] && cpu_pct $(( $(cpu_ticks "$SIPP_PID") - SIPP_CPU0 )) "$W_WALL" || echo "")
wait "$PROBE_PID" 2>/dev/null
wait "$SIPP_JOB"; RC=$?
T1=$(now_s)
[[ -n ${PERF_JOB:-} ]] && wait "$PERF_JOB" 2>/dev/null
wait_drain "$SETTLE"
check_rtp_silent 3

OK=$(sipp_stat "$STF" "SuccessfulCall(C)"); FAIL=$(sipp_stat "$STF" "FailedCall(C)")
RETR=$(sipp_stat "$STF" "Retransmissions(C)")
UP=$(( OK + FAIL ))
STREAMS=$(json_get "$PJ" streams); PPS=$(json_get "$PJ" pps)
J50=$(json_get "$PJ" jitter_kernel.p50_us); J99=$(json_get "$PJ" jitter_kernel.p99_us)
J999=$(json_get "$PJ" jitter_kernel.p999_us); JMAX=$(json_get "$PJ" jitter_kernel.max_us)
JOVER=$(json_get "$PJ" jitter_kernel.over_2ms); JN=$(json_get "$PJ" jitter_kernel.samples)
A99=$(json_get "$PJ" jitter_app.p99_us)
LOST=$(json_get "$PJ" lost); LOSSPCT=$(json_get "$PJ" loss_pct); SDROP=$(json_get "$PJ" socket_drops)
PROBE_CPU=$(json_get "$PJ" probe_cpu_pct)
# Per call = per call admitted (the streams the probe measured; N when all were admitted).
ADMITTED=${STREAMS:-0}; [[ $ADMITTED =~ ^[0-9]+$ && $ADMITTED -gt 0 ]] || ADMITTED=$N
PER_CALL=$(awk -v h="$HOLD_RSS" -v b="$BASE_RSS" -v n="$ADMITTED" 'BEGIN { printf "%.1f", (h-b)/n }')
OTHER=$(other_load "$(awk -v a="${SIPP_CPU:-0}" -v b="${PROBE_CPU:-0}" 'BEGIN {print a+b}')")
SHEDW=$(grep -c "shedding new calls" "$SERVER_LOG" 2>/dev/null || true)
keep_server_log "$TAG"
VERDICT_J=$(awk -v j="$J99" 'BEGIN { print (j != "" && j <= 2000) ? "met" : "missed" }')
VERDICT_M=$(awk -v p="$PER_CALL" 'BEGIN { print (p <= 100) ? "met" : "missed" }')

CSV_HEADER="date,rev,n,ramp_rate,hold_s,successful,failed,retransmissions,sipp_rc,streams_measured,pps,jitter_p50_us,jitter_p99_us,jitter_p999_us,jitter_max_us,jitter_over_2ms,jitter_samples,app_jitter_p99_us,rtp_lost,loss_pct,probe_socket_drops,server_cpu_pct,machine_cpu_pct,sipp_cpu_pct,probe_cpu_pct,other_load_pct,rss_base_kb,rss_hold_kb,rss_per_call_kb,rss_peak_kb,threads_hold,fds_hold,udp_inerrors,rcvbuf_errors,sndbuf_errors,softnet_drops,live_after,threads_after,fds_after,rss_after_kb,rtp_streams_after,clean,server_alive,media_late_warnings,p99_target,rss_target"
ROW="$STAMP,$(git_rev),$N,$RATE,$HOLD,$OK,$FAIL,$RETR,$RC,$STREAMS,$PPS,$J50,$J99,$J999,$JMAX,$JOVER,$JN,$A99,$LOST,$LOSSPCT,$SDROP,$W_SERVER_CPU,$W_MACHINE_CPU,$SIPP_CPU,$PROBE_CPU,$OTHER,$BASE_RSS,$HOLD_RSS,$PER_CALL,$D_HWM,$MID_THREADS,$MID_FDS,$W_INERR,$W_RCVBUF,$W_SNDBUF,$W_SOFTNET,$D_LIVE,$D_THREADS,$D_FDS,$D_RSS,$D_LEAKED_STREAMS,$D_CLEAN,$D_ALIVE,$SHEDW,$VERDICT_J,$VERDICT_M"
csv_append "$CSV" "$CSV_HEADER" "$ROW"

perf_reports "$TAG"
log "CONCURRENCY N=$N: $OK ok / $FAIL failed (sipp rc $RC, $RETR retrans); streams measured $STREAMS, $PPS pkt/s | jitter p50/p99/p99.9/max $J50/$J99/$J999/$JMAX µs (>2 ms: $JOVER of $JN; app-clock p99 $A99) | lost $LOST ($LOSSPCT %) | server CPU $W_SERVER_CPU% (of one core), machine $W_MACHINE_CPU% (of 2 cores), sipp $SIPP_CPU%, probe $PROBE_CPU%, other $OTHER% | media-late warnings $SHEDW | RSS $BASE_RSS -> $HOLD_RSS kB = $PER_CALL kB/call, threads $MID_THREADS | InErrors $W_INERR | after: live $D_LIVE, RTP streams ${D_LEAKED_STREAMS}, RSS $D_RSS kB, clean=$D_CLEAN | targets: p99 ≤ 2 ms $VERDICT_J, ≤ 100 KB/call $VERDICT_M"
echo "n=$N ok=$OK failed=$FAIL p99_us=$J99 per_call_kb=$PER_CALL clean=$D_CLEAN"
