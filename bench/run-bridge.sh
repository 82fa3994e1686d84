#!/usr/bin/env bash
# Bridged calls: N caller↔agent pairs relaying RTP through centrale's B2BUA bridge for HOLD s.
#
# The server serves bench/dialplans/bridge: every call is answered and transferred at once to a
# SIPp UAS "agent" on 127.0.0.1:$AGENT_PORT (bench/sipp/bridge_agent.xml). A dial-plan transfer
# and an agent offer use the same bridge (src/server/call/legs.rs), so this is the agent path
# without registration. The caller SIPp (bench/sipp/bridge_caller.xml) and the agent SIPp log
# the server's media port of each leg ("RTPPORT <port> <call-id>"); once all calls are up the
# RTP probe sends a 20 ms PCMU packet every 20 ms to every one of those ports (caller → server
# → agent and agent → server → caller: 2 × 50 packets/s per pair into the server, as many out),
# with its send time in the payload. The bridge relays PCMU ↔ PCMU payloads unchanged, so the
# probe, receiving both sides (caller SDP → $PROBE_PORT, agent SDP → $PROBE_PORT+2), measures
# per packet the latency send → kernel arrival, loss (sent vs received, and sequence gaps per
# stream) and jitter. In the HOLD window: server CPU, RSS (total, per pair), machine CPU.
# Before the server starts, a "floor" run (FLOOR_S s) has the probe send the same number of
# streams straight to itself: the latency of the probe + loopback alone; "added" = bridge − floor.
# Afterwards: live calls back to zero, RTP silent, threads/fds/RSS back near the baseline.
#
#   bench/run-bridge.sh 250        # N pairs (2 N legs, 4 N RTP streams through the server)
# Env: RAMP_RATE (250 calls/s), HOLD (60), SETTLE (40), FLOOR_S (20; 0 = skip), AGENT_PORT (15072),
#      SEND_BATCH (32: packets per sendmmsg), PROFILE=1 (perf record -g of the server, 10 s).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
DIALPLAN=$BENCH_DIR/dialplans/bridge
need_tools
build_all
raise_limits

N=${1:?usage: run-bridge.sh N_PAIRS}
RATE=${RAMP_RATE:-250}
HOLD=${HOLD:-60}
SETTLE=${SETTLE:-40}
FLOOR_S=${FLOOR_S:-20}
AGENT_PORT=${AGENT_PORT:-15072}
SEND_BATCH=${SEND_BATCH:-32}
PROBE_PORT2=$((PROBE_PORT + 2))
CSV=$RESULTS/bridge.csv
STAMP=$(date +%Y%m%d-%H%M%S)
TAG="bridge-$STAMP-$N"
RAMP=$(( (N + RATE - 1) / RATE ))
SEND_AT=$((RAMP + 4))          # probe starts sending (all calls should be up by then)
WARMUP=$((SEND_AT + 3))        # measured window starts
HOLD_MS=$(( (WARMUP + HOLD + 6) * 1000 ))
STF=$RESULTS/logs/$TAG.caller-stat.csv
ASTF=$RESULTS/logs/$TAG.agent-stat.csv
CLOG=$RESULTS/logs/$TAG.caller-ports.log
ALOG=$RESULTS/logs/$TAG.agent-ports.log
PJ=$RESULTS/logs/$TAG.probe.json
FJ=$RESULTS/logs/$TAG.floor.json
TF=$RESULTS/logs/$TAG.sipp-time
TOPF=$RESULTS/logs/$TAG.top.txt
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')

ports_needed=$(( N * 4 ))      # two legs per pair, an RTP+RTCP pair each
ports_have=$(( RTP_MAX - RTP_MIN + 1 ))
(( ports_needed <= ports_have )) || die "RTP range $RTP_MIN-$RTP_MAX has $ports_have ports, $N pairs need $ports_needed"
"$CENTRALE_BIN" check "$DIALPLAN" >/dev/null 2>&1 || { "$CENTRALE_BIN" check "$DIALPLAN"; die "dial plan $DIALPLAN does not pass centrale check"; }

# --- floor: the probe sending 2N streams to itself, no server --------------------------------
FLOOR_P50=; FLOOR_P99=; FLOOR_MAX=; FLOOR_LOST=
if (( FLOOR_S > 0 )); then
    FP=$RESULTS/logs/$TAG.floor-ports.log
    { for _ in $(seq 1 "$N"); do echo "RTPPORT $PROBE_PORT"; echo "RTPPORT $PROBE_PORT2"; done; } >"$FP"
    log "floor: probe → probe, $((2 * N)) streams, ${FLOOR_S}s"
    "${NICE[@]}" "$PROBE_BIN" --port "$PROBE_PORT" --ports 2 --rtcp --warmup 3 --duration "$FLOOR_S" \
        --min-packets 50 --label "$TAG-floor" --json "$FJ" --send "$FP" --send-at 1 --send-batch "$SEND_BATCH" \
        >"$RESULTS/logs/$TAG.floor.txt" 2>&1
    FLOOR_P50=$(json_get "$FJ" send.latency.p50_us); FLOOR_P99=$(json_get "$FJ" send.latency.p99_us)
    FLOOR_MAX=$(json_get "$FJ" send.latency.max_us); FLOOR_LOST=$(json_get "$FJ" send.lost)
    log "floor: latency p50/p99/max $FLOOR_P50/$FLOOR_P99/$FLOOR_MAX µs, lost $FLOOR_LOST"
fi

start_server $((2 * N + 1000))
"${NICE[@]}" "$PROBE_BIN" --port "$PROBE_PORT" --ports 2 --rtcp --warmup "$WARMUP" --duration "$HOLD" --interval 10 \
    --min-packets 50 --label "$TAG" --json "$PJ" --send "$CLOG" --send "$ALOG" --send-at "$SEND_AT" \
    --send-batch "$SEND_BATCH" ${PROBE_RT:+--rt} >"$RESULTS/logs/$TAG.probe.txt" 2>&1 &
PROBE_PID=$!
cleanup_pids+=("$PROBE_PID")
sleep 0.3

# The agent: a SIPp UAS answering N calls, then done.
(cd "$RESULTS/logs" && timeout -k 5 -s INT $((WARMUP + HOLD + 120)) \
    "${NICE[@]}" sipp -sf "$BENCH_DIR/sipp/bridge_agent.xml" -i 127.0.0.1 -p "$AGENT_PORT" -t u1 \
    -key probe_port "$PROBE_PORT2" -m "$N" -buff_size 4194304 -nostdin \
    -trace_stat -stf "$ASTF" -fd 1 -trace_logs -log_file "$ALOG" -trace_err -error_file "$RESULTS/logs/$TAG.agent-errors.log" \
    >"$RESULTS/logs/$TAG.agent-sipp.txt" 2>&1) &
AGENT_JOB=$!
sleep 0.5
log "N=$N pairs: ramp ${RAMP}s at ${RATE}/s, each call holds $((HOLD_MS / 1000))s; probe sends from t=${SEND_AT}s, measures ${HOLD}s from t=${WARMUP}s"

T0=$(now_s)
(cd "$RESULTS/logs" && timeout -k 5 -s INT $((WARMUP + HOLD + 100)) /usr/bin/time -f '%U %S %e %M' -o "$TF" \
    "${NICE[@]}" sipp "127.0.0.1:$SIP_PORT" -sf "$BENCH_DIR/sipp/bridge_caller.xml" -s 311 -i 127.0.0.1 -p "$SIPP_PORT" -t u1 \
    -key probe_port "$PROBE_PORT" -d "$HOLD_MS" \
    -r "$RATE" -rp 1000 -m "$N" -l "$N" -buff_size 4194304 -nostdin \
    -trace_stat -stf "$STF" -fd 1 -trace_logs -log_file "$CLOG" -trace_err -error_file "$RESULTS/logs/$TAG.errors.log" \
    >"$RESULTS/logs/$TAG.sipp.txt" 2>&1) &
SIPP_JOB=$!

sleep "$((SEND_AT - 1))"
PORTS_C=$(grep -c RTPPORT "$CLOG" 2>/dev/null || true); PORTS_A=$(grep -c RTPPORT "$ALOG" 2>/dev/null || true)
log "1 s before sending: $PORTS_C caller legs and $PORTS_A agent legs up (want $N each)"
sleep $((WARMUP - SEND_AT + 1))

# The measured window.
snap_begin
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
SIPP_PID=$(pgrep -n -f "^sipp 127.0.0.1:$SIP_PORT " || true)
AGENT_PID=$(pgrep -n -f "^sipp -sf $BENCH_DIR/sipp/bridge_agent.xml .* -p $AGENT_PORT " || true)
SIPP_CPU0=$( [[ -n $SIPP_PID ]] && cpu_ticks "$SIPP_PID" || echo 0)
AGENT_CPU0=$( [[ -n $AGENT_PID ]] && cpu_ticks "$AGENT_PID" || echo 0)
( sleep $((HOLD / 2 - 2)); top_snapshot "$TOPF" ) &
if [[ ${PROFILE:-0} == 1 ]]; then
    ( sleep $((HOLD / 2 - 5)); perf record -e cpu-clock -F 499 -g -p "$SERVER_PID" -o "$RESULTS/logs/$TAG.perf.data" -- sleep 10 >/dev/null 2>&1 ) &
    PERF_JOB=$!
fi
sleep $((HOLD / 2))
MID_RSS=$(rss_kb "$SERVER_PID"); MID_THREADS=$(threads_of "$SERVER_PID"); MID_FDS=$(fds_of "$SERVER_PID")
sleep $((HOLD - HOLD / 2))
snap_end
HOLD_RSS=$(rss_kb "$SERVER_PID")
LOAD2=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
SIPP_CPU=$( [[ -n $SIPP_PID ]] && cpu_pct $(( $(cpu_ticks "$SIPP_PID") - SIPP_CPU0 )) "$W_WALL" || echo "")
AGENT_CPU=$( [[ -n $AGENT_PID ]] && cpu_pct $(( $(cpu_ticks "$AGENT_PID") - AGENT_CPU0 )) "$W_WALL" || echo "")
wait "$PROBE_PID" 2>/dev/null
wait "$SIPP_JOB"; RC=$?
wait "$AGENT_JOB"; ARC=$?
[[ -n ${PERF_JOB:-} ]] && wait "$PERF_JOB" 2>/dev/null
wait_drain "$SETTLE"
check_rtp_silent 3 2

OK=$(sipp_stat "$STF" "SuccessfulCall(C)"); FAIL=$(sipp_stat "$STF" "FailedCall(C)")
RETR=$(sipp_stat "$STF" "Retransmissions(C)")
AOK=$(sipp_stat "$ASTF" "SuccessfulCall(C)"); AFAIL=$(sipp_stat "$ASTF" "FailedCall(C)")
g() { json_get "$PJ" "$1"; }
STREAMS=$(g streams); PPS=$(g pps)
DESTS=$(g send.dests); SENT=$(g send.sent_window); RECV=$(g send.received_window)
LOST=$(g send.lost); LOSSPCT=$(g send.loss_pct); SILENT=$(g send.dests_silent)
SEQLOST=$(g lost); SDROP=$(g socket_drops)
L50=$(g send.latency.p50_us); L90=$(g send.latency.p90_us); L99=$(g send.latency.p99_us)
L999=$(g send.latency.p999_us); LMAX=$(g send.latency.max_us)
LAC50=$(python3 -c "import json,sys; d=json.load(open('$PJ'))['send']['latency_by_port']; print(d[0]['latency']['p50_us'], d[0]['latency']['p99_us'], d[1]['latency']['p50_us'], d[1]['latency']['p99_us'])" 2>/dev/null || echo "   ")
read -r A2C50 A2C99 C2A50 C2A99 <<<"$LAC50"
J50=$(g jitter_kernel.p50_us); J99=$(g jitter_kernel.p99_us); JMAX=$(g jitter_kernel.max_us)
SLATE=$(g send.late_max_us); SLATE1=$(g send.late_over_1ms); SCPU=$(g send.sender_cpu_pct)
PROBE_CPU=$(g probe_cpu_pct)
ADD50=$(awk -v a="$L50" -v f="$FLOOR_P50" 'BEGIN { if (a != "" && f != "") print a-f; else print "" }')
ADD99=$(awk -v a="$L99" -v f="$FLOOR_P99" 'BEGIN { if (a != "" && f != "") print a-f; else print "" }')
PER_PAIR=$(awk -v h="$HOLD_RSS" -v b="$BASE_RSS" -v n="$N" 'BEGIN { printf "%.1f", (h-b)/n }')
OTHER=$(other_load "$(awk -v a="${SIPP_CPU:-0}" -v b="${AGENT_CPU:-0}" -v c="${PROBE_CPU:-0}" 'BEGIN {print a+b+c}')")
SHEDW=$(grep -c "shedding new calls" "$SERVER_LOG" 2>/dev/null || true)
BRIDGED=$(grep -c "transfer answered: bridged" "$SERVER_LOG" 2>/dev/null || true)
keep_server_log "$TAG"

CSV_HEADER="date,rev,n_pairs,ramp_rate,hold_s,load_start,load_window_start,load_window_end,caller_ok,caller_failed,caller_retrans,caller_rc,agent_ok,agent_failed,agent_rc,bridged,caller_ports,agent_ports,send_dests,streams_measured,pps_received,sent,received,lost,loss_pct,dests_silent,seq_lost,probe_socket_drops,lat_p50_us,lat_p90_us,lat_p99_us,lat_p999_us,lat_max_us,lat_a2c_p50_us,lat_a2c_p99_us,lat_c2a_p50_us,lat_c2a_p99_us,floor_p50_us,floor_p99_us,floor_max_us,floor_lost,added_p50_us,added_p99_us,jitter_p50_us,jitter_p99_us,jitter_max_us,sender_late_max_us,sender_late_slots_over_1ms,sender_cpu_pct,server_cpu_pct,machine_cpu_pct,sipp_caller_cpu_pct,sipp_agent_cpu_pct,probe_cpu_pct,other_load_pct,rss_base_kb,rss_mid_kb,rss_hold_kb,rss_per_pair_kb,rss_peak_kb,threads_hold,fds_hold,udp_inerrors,rcvbuf_errors,sndbuf_errors,softnet_drops,live_after,threads_after,fds_after,rss_after_kb,rtp_streams_after,clean,server_alive,media_late_warnings"
ROW="$STAMP,$(git_rev),$N,$RATE,$HOLD,$LOAD0,$LOAD1,$LOAD2,$OK,$FAIL,$RETR,$RC,$AOK,$AFAIL,$ARC,$BRIDGED,$PORTS_C,$PORTS_A,$DESTS,$STREAMS,$PPS,$SENT,$RECV,$LOST,$LOSSPCT,$SILENT,$SEQLOST,$SDROP,$L50,$L90,$L99,$L999,$LMAX,$A2C50,$A2C99,$C2A50,$C2A99,$FLOOR_P50,$FLOOR_P99,$FLOOR_MAX,$FLOOR_LOST,$ADD50,$ADD99,$J50,$J99,$JMAX,$SLATE,$SLATE1,$SCPU,$W_SERVER_CPU,$W_MACHINE_CPU,$SIPP_CPU,$AGENT_CPU,$PROBE_CPU,$OTHER,$BASE_RSS,$MID_RSS,$HOLD_RSS,$PER_PAIR,$D_HWM,$MID_THREADS,$MID_FDS,$W_INERR,$W_RCVBUF,$W_SNDBUF,$W_SOFTNET,$D_LIVE,$D_THREADS,$D_FDS,$D_RSS,$D_LEAKED_STREAMS,$D_CLEAN,$D_ALIVE,$SHEDW"
csv_append "$CSV" "$CSV_HEADER" "$ROW"

perf_reports "$TAG"
log "BRIDGE N=$N pairs: callers $OK ok / $FAIL failed (rc $RC, $RETR retrans), agents $AOK ok / $AFAIL failed (rc $ARC), bridged $BRIDGED | probe sent $SENT, received $RECV, lost $LOST ($LOSSPCT %), silent destinations $SILENT, seq gaps $SEQLOST, streams $STREAMS at $PPS pkt/s | latency p50/p90/p99/p99.9/max $L50/$L90/$L99/$L999/$LMAX µs (floor p50/p99 $FLOOR_P50/$FLOOR_P99: added $ADD50/$ADD99) | jitter p50/p99/max $J50/$J99/$JMAX µs | sender late max $SLATE µs | server CPU $W_SERVER_CPU% (of one core), machine $W_MACHINE_CPU% (of 2 cores), sipp $SIPP_CPU% + $AGENT_CPU%, probe $PROBE_CPU% (sender $SCPU%), other $OTHER%, load $LOAD1 → $LOAD2 | RSS $BASE_RSS -> $HOLD_RSS kB = $PER_PAIR kB/pair | InErrors $W_INERR RcvbufErrors $W_RCVBUF | after: live $D_LIVE, RTP streams ${D_LEAKED_STREAMS}, RSS $D_RSS kB, clean=$D_CLEAN"
echo "n_pairs=$N caller_failed=$FAIL agent_failed=$AFAIL lost=$LOST loss_pct=$LOSSPCT lat_p99_us=$L99 added_p99_us=$ADD99 server_cpu=$W_SERVER_CPU per_pair_kb=$PER_PAIR clean=$D_CLEAN"
