#!/usr/bin/env bash
# Overload: the server runs with [limits] max_calls = OVERLOAD_MAX_CALLS (300). SIPp #1 brings
# up exactly that many listener calls (prompts playing, RTP to the probe). Then SIPp #2 offers
# a storm of new INVITEs at STORM_RATE calls/s for STORM_S seconds: every one must get
# 503 + Retry-After (ACKed, logged as "shed"), while the probe shows the established calls keep
# clean audio (per 5 s interval: jitter and loss before / during / after the storm), and the
# listener calls still hang up cleanly (BYE → 200, 0 failed).
#
#   bench/run-overload.sh
# Env: OVERLOAD_MAX_CALLS (300), STORM_RATE (2000), STORM_S (15), SETTLE (40).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
build_all
raise_limits

MAXC=${OVERLOAD_MAX_CALLS:-300}
STORM_RATE=${STORM_RATE:-2000}
STORM_S=${STORM_S:-15}
SETTLE=${SETTLE:-40}
CSV=$RESULTS/overload.csv
STAMP=$(date +%Y%m%d-%H%M%S)
TAG="overload-$STAMP"
L=$RESULTS/logs
RAMP_RATE=100
RAMP=$(( (MAXC + RAMP_RATE - 1) / RAMP_RATE ))
BEFORE=10; AFTER=10
STORM_AT=$((RAMP + 3 + BEFORE))               # seconds after the listeners start
WINDOW=$((BEFORE + STORM_S + AFTER))
LISTEN_MS=$(( (STORM_AT + STORM_S + AFTER + 4) * 1000 ))

start_server "$MAXC"
"${NICE[@]}" "$PROBE_BIN" --port "$PROBE_PORT" --rtcp --warmup $((RAMP + 3)) --duration "$WINDOW" --interval 5 \
    --min-packets 50 --label "$TAG" --json "$L/$TAG.probe.json" >"$L/$TAG.probe.txt" 2>&1 &
PROBE_PID=$!
cleanup_pids+=("$PROBE_PID")
sleep 0.3
log "overload: $MAXC listeners (max_calls $MAXC), storm ${STORM_RATE}/s × ${STORM_S}s from t=${STORM_AT}s, probe window ${WINDOW}s in 5 s intervals"
(cd "$L" && timeout -k 5 -s INT $((LISTEN_MS / 1000 + 60)) \
    "${NICE[@]}" sipp "127.0.0.1:$SIP_PORT" -sf "$BENCH_DIR/sipp/listener.xml" -s 311 -i 127.0.0.1 -p "$SIPP_PORT" -t u1 \
    -key probe_port "$PROBE_PORT" -d "$LISTEN_MS" \
    -r "$RAMP_RATE" -rp 1000 -m "$MAXC" -l "$MAXC" -buff_size 4194304 -nostdin \
    -trace_stat -stf "$L/$TAG.listeners.stat.csv" -fd 1 -trace_err -error_file "$L/$TAG.listeners.errors.log" \
    >"$L/$TAG.listeners.sipp.txt" 2>&1) &
LJOB=$!
sleep "$STORM_AT"
LIVE_AT_STORM=$(( $(calls_started) - $(calls_ended) ))
snap_begin
(cd "$L" && timeout -k 5 -s INT $((STORM_S + 45)) \
    "${NICE[@]}" sipp "127.0.0.1:$SIP_PORT" -sf "$BENCH_DIR/sipp/storm.xml" -s 311 -i 127.0.0.1 -p $((SIPP_PORT + 2)) -t u1 \
    -key probe_port "$PROBE_PORT" \
    -r "$STORM_RATE" -rp 1000 -m $((STORM_RATE * STORM_S)) -l $((STORM_RATE * 10)) -buff_size 4194304 -nostdin \
    -trace_stat -stf "$L/$TAG.storm.stat.csv" -fd 1 -trace_logs -trace_counts -trace_err \
    -error_file "$L/$TAG.storm.errors.log" -log_file "$L/$TAG.storm.log" \
    >"$L/$TAG.storm.sipp.txt" 2>&1)
SRC=$?
snap_end
wait "$PROBE_PID" 2>/dev/null
wait "$LJOB"; LRC=$?
wait_drain "$SETTLE"
check_rtp_silent 3

keep_server_log "$TAG"
LOK=$(sipp_stat "$L/$TAG.listeners.stat.csv" "SuccessfulCall(C)"); LFAIL=$(sipp_stat "$L/$TAG.listeners.stat.csv" "FailedCall(C)")
SOK=$(sipp_stat "$L/$TAG.storm.stat.csv" "SuccessfulCall(C)"); SFAIL=$(sipp_stat "$L/$TAG.storm.stat.csv" "FailedCall(C)")
SHED=$(grep -c "^shed 503" "$L/$TAG.storm.log" 2>/dev/null || true)
ACCEPTED=$(grep -c "^accepted" "$L/$TAG.storm.log" 2>/dev/null || true)
RA=$(sed -n 's/^shed 503 retry-after=\([0-9]*\).*/\1/p' "$L/$TAG.storm.log" 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ';')
OFFERED=$((STORM_RATE * STORM_S))

# Per-interval audio quality of the established calls (the probe's 5 s intervals).
python3 - "$L/$TAG.probe.json" "$BEFORE" "$STORM_S" >"$L/$TAG.intervals.txt" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); before = float(sys.argv[2]); storm = float(sys.argv[3])
print(f"{'t_end_s':>7} {'phase':>7} {'streams':>7} {'packets':>8} {'lost':>5} {'p50_us':>7} {'p99_us':>7} {'max_us':>7} {'>2ms':>5}")
for iv in d["intervals"]:
    t = iv["t"]; ph = "before" if t <= before else ("storm" if t <= before + storm else "after")
    j = iv["jitter_kernel"]
    print(f"{t:7.1f} {ph:>7} {iv['streams']:7d} {iv['packets']:8d} {iv['lost']:5d} {j['p50_us']:7d} {j['p99_us']:7d} {j['max_us']:7d} {j['over_2ms']:5d}")
EOF
cat "$L/$TAG.intervals.txt" >&2
read -r B99 S99 A99 BMAX SMAX AMAX BL SL AL < <(python3 - "$L/$TAG.probe.json" "$BEFORE" "$STORM_S" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); before = float(sys.argv[2]); storm = float(sys.argv[3])
ph = {"b": [], "s": [], "a": []}
for iv in d["intervals"]:
    t = iv["t"]; ph["b" if t <= before else ("s" if t <= before + storm else "a")].append(iv)
f = lambda l, k: max([iv["jitter_kernel"][k] for iv in l] or [0])
g = lambda l: sum(iv["lost"] for iv in l)
print(f(ph["b"], "p99_us"), f(ph["s"], "p99_us"), f(ph["a"], "p99_us"), f(ph["b"], "max_us"), f(ph["s"], "max_us"), f(ph["a"], "max_us"), g(ph["b"]), g(ph["s"]), g(ph["a"]))
EOF
)
CSV_HEADER="date,rev,max_calls,listeners_ok,listeners_failed,live_at_storm,storm_rate,storm_s,storm_offered,storm_shed_503,storm_accepted,storm_failed,retry_after_values,p99_before_us,p99_storm_us,p99_after_us,max_before_us,max_storm_us,max_after_us,lost_before,lost_storm,lost_after,server_cpu_storm_pct,machine_cpu_storm_pct,udp_inerrors_storm,live_after,rss_base_kb,rss_after_kb,rss_peak_kb,rtp_streams_after,clean"
ROW="$STAMP,$(git_rev),$MAXC,$LOK,$LFAIL,$LIVE_AT_STORM,$STORM_RATE,$STORM_S,$OFFERED,$SHED,$ACCEPTED,$SFAIL,$RA,$B99,$S99,$A99,$BMAX,$SMAX,$AMAX,$BL,$SL,$AL,$W_SERVER_CPU,$W_MACHINE_CPU,$W_INERR,$D_LIVE,$BASE_RSS,$D_RSS,$D_HWM,$D_LEAKED_STREAMS,$D_CLEAN"
csv_append "$CSV" "$CSV_HEADER" "$ROW"
log "OVERLOAD: listeners $LOK ok / $LFAIL failed (rc $LRC; $LIVE_AT_STORM live when the storm began) | storm $OFFERED INVITEs at ${STORM_RATE}/s: $SHED got 503 (Retry-After: $RA), $ACCEPTED accepted, $SFAIL failed (rc $SRC) | established calls p99 jitter before/storm/after $B99/$S99/$A99 µs, max $BMAX/$SMAX/$AMAX µs, lost $BL/$SL/$AL | server CPU in storm $W_SERVER_CPU%, machine $W_MACHINE_CPU%, InErrors $W_INERR | after: live $D_LIVE, RTP streams $D_LEAKED_STREAMS, RSS $BASE_RSS -> $D_RSS kB, clean=$D_CLEAN"
echo "listeners_failed=$LFAIL shed=$SHED/$OFFERED accepted=$ACCEPTED storm_failed=$SFAIL p99_before=$B99 p99_storm=$S99"
