#!/usr/bin/env bash
# Call setup rate: the highest calls/s of short IVR calls (INVITE, 200, ACK, greeting plays
# 0.5 s, BYE, 200) that SIPp can offer for 30 s with zero failed calls.
#
# Search: fresh server per trial; rates double from SETUP_START until a trial fails, then
# bisect until the step is ≤ 10 % (at most SETUP_MAX_TRIALS trials); the best passing rate is
# then run once more (the confirmation run, with the 40 s return-to-baseline check).
# A trial passes when SIPp reports 0 failed calls, every call of the trial succeeded, and the
# trial did not take longer than 10 % + 3 s over its nominal duration (SIPp really offered the rate).
#
#   bench/run-setup-rate.sh                 # search
#   SETUP_RATES="500 1000" bench/run-setup-rate.sh   # just these rates (no search)
# Env: SETUP_DURATION (30), SETUP_START (250), SETUP_MAX_TRIALS (8), HOLD_MS (500),
#      SCENARIO (short_call.xml | ivr_digit.xml), SETTLE (40), PROFILE=1 (perf on the last trial).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
need_tools
build_all
raise_limits

DUR=${SETUP_DURATION:-30}
START=${SETUP_START:-250}
MAX_TRIALS=${SETUP_MAX_TRIALS:-8}
HOLD_MS=${HOLD_MS:-500}
SCENARIO=${SCENARIO:-short_call.xml}
SETTLE=${SETTLE:-40}
CSV=$RESULTS/setup-rate.csv
STAMP=$(date +%Y%m%d-%H%M%S)
CSV_HEADER="date,rev,kind,scenario,rate_offered,duration_s,calls,successful,failed,retransmissions,achieved_cps,wall_s,pass,resp_time_avg_ms,server_cpu_pct,machine_cpu_pct,sipp_cpu_pct,probe_cpu_pct,other_load_pct,rss_base_kb,rss_end_kb,rss_peak_kb,udp_inerrors,rcvbuf_errors,softnet_drops,jitter_p50_us,jitter_p99_us,jitter_max_us,rtp_lost,live_after,threads_after,rss_after_kb,clean,server_alive,media_late_warnings"

# trial RATE KIND SETTLE: one fresh server, one 30 s SIPp run; sets T_PASS and prints a summary.
trial() {
    local rate=$1 kind=$2 settle=$3
    local m=$((rate * DUR)) l=$((rate * 4 + 200))
    local tag="setup-$STAMP-$kind-$rate"
    local stf=$RESULTS/logs/$tag.stat.csv err=$RESULTS/logs/$tag.errors.log
    local pj=$RESULTS/logs/$tag.probe.json tf=$RESULTS/logs/$tag.sipp-time
    start_server 100000
    # The probe sinks every call's RTP and measures it between 5 s and DUR-5 s.
    "${NICE[@]}" "$PROBE_BIN" --port "$PROBE_PORT" --rtcp --warmup 5 --duration $((DUR - 10)) --min-packets 5 \
        --label "$tag" --json "$pj" >"$RESULTS/logs/$tag.probe.txt" 2>&1 &
    local probe_pid=$!
    cleanup_pids+=("$probe_pid")
    sleep 0.3
    snap_begin
    local t0 t1 rc
    t0=$(now_s)
    ( sleep $((DUR / 2)); top_snapshot "$RESULTS/logs/$tag.top.txt" ) &
    local prof_pid=
    if [[ ${PROFILE:-0} == 1 && $kind != search ]]; then
        ( sleep 8; perf record -e cpu-clock -F 499 -g -p "$SERVER_PID" -o "$RESULTS/logs/$tag.perf.data" -- sleep 10 >/dev/null 2>&1 ) &
        prof_pid=$!
    fi
    (cd "$RESULTS/logs" && timeout -k 5 -s INT $((DUR + 60)) /usr/bin/time -f '%U %S %e %M' -o "$tf" \
        "${NICE[@]}" sipp "127.0.0.1:$SIP_PORT" -sf "$BENCH_DIR/sipp/$SCENARIO" -s 311 -i 127.0.0.1 -p "$SIPP_PORT" -t u1 \
        -key probe_port "$PROBE_PORT" -d "$HOLD_MS" \
        -r "$rate" -rp 1000 -m "$m" -l "$l" -buff_size 4194304 -nostdin \
        -trace_stat -stf "$stf" -fd 1 -trace_err -error_file "$err" >"$RESULTS/logs/$tag.sipp.txt" 2>&1)
    rc=$?
    t1=$(now_s)
    snap_end
    local end_rss; end_rss=$(rss_kb "$SERVER_PID")
    wait "$probe_pid" 2>/dev/null
    [[ -n $prof_pid ]] && wait "$prof_pid" 2>/dev/null
    wait_drain "$settle"
    check_rtp_silent 2
    local ok fail retr wall achieved sipp_cpu resp
    ok=$(sipp_stat "$stf" "SuccessfulCall(C)"); fail=$(sipp_stat "$stf" "FailedCall(C)")
    retr=$(sipp_stat "$stf" "Retransmissions(C)")
    resp=$(sipp_ms "$(sipp_stat "$stf" "ResponseTime1(C)")")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b-a}')
    achieved=$(awk -v c="$ok" -v w="$wall" -v h="$HOLD_MS" 'BEGIN { d=w-h/1000; if (d<1) d=1; printf "%.0f", c/d }')
    sipp_cpu=$(tail -1 "$tf" 2>/dev/null | awk -v w="$wall" '{ if (w>0) printf "%.1f", 100*($1+$2)/w }')
    T_PASS=no
    if [[ $rc == 0 && $fail == 0 && $ok == "$m" ]] && awk -v w="$wall" -v d="$DUR" -v h="$HOLD_MS" 'BEGIN { exit !(w <= d*1.1 + 3 + h/1000) }'; then
        T_PASS=yes
    fi
    local pcpu other
    pcpu=$(json_get "$pj" probe_cpu_pct)
    other=$(other_load "$(awk -v a="${sipp_cpu:-0}" -v b="${pcpu:-0}" 'BEGIN {print a+b}')")
    local j50 j99 jmax lost
    j50=$(json_get "$pj" jitter_kernel.p50_us); j99=$(json_get "$pj" jitter_kernel.p99_us)
    jmax=$(json_get "$pj" jitter_kernel.max_us); lost=$(json_get "$pj" lost)
    local shed_warn; shed_warn=$(grep -c "shedding new calls" "$SERVER_LOG" 2>/dev/null || true)
    local row="$STAMP,$(git_rev),$kind,$SCENARIO,$rate,$DUR,$m,$ok,$fail,$retr,$achieved,$wall,$T_PASS,$resp,$W_SERVER_CPU,$W_MACHINE_CPU,$sipp_cpu,$pcpu,$other,$BASE_RSS,$end_rss,$D_HWM,$W_INERR,$W_RCVBUF,$W_SOFTNET,$j50,$j99,$jmax,$lost,$D_LIVE,$D_THREADS,$D_RSS,$D_CLEAN,$D_ALIVE,$shed_warn"
    csv_append "$CSV" "$CSV_HEADER" "$row"
    log "SETUP $kind rate=$rate/s: $ok/$m ok, $fail failed, $retr retrans, achieved ${achieved}/s in ${wall}s (sipp rc $rc) => pass=$T_PASS | server CPU ${W_SERVER_CPU}% machine ${W_MACHINE_CPU}% sipp ${sipp_cpu}% probe ${pcpu}% other ${other}% | media-late warnings $shed_warn | RSS ${BASE_RSS}->${end_rss} kB (peak ${D_HWM}) | InErrors $W_INERR | jitter p50/p99/max ${j50}/${j99}/${jmax} µs lost $lost | drain clean=$D_CLEAN"
    if [[ ${PROFILE:-0} == 1 && -s $RESULTS/logs/$tag.perf.data ]]; then
        perf report -i "$RESULTS/logs/$tag.perf.data" --no-children --stdio --percent-limit 1 2>/dev/null | grep -v '^$' | head -120 >"$RESULTS/logs/$tag.perf.txt"
        log "profile: $RESULTS/logs/$tag.perf.txt"
    fi
    keep_server_log "$tag"
    stop_server
    rm -rf "$RUN_DIR"
}

best=0; worst=0; trials=0
if [[ -n ${SETUP_RATES:-} ]]; then
    for r in $SETUP_RATES; do
        trial "$r" fixed 10
        if [[ $T_PASS == yes ]]; then (( r > best )) && best=$r; else (( worst == 0 || r < worst )) && worst=$r; fi
    done
else
    r=$START
    while (( trials < MAX_TRIALS )); do
        trial "$r" search 5; trials=$((trials + 1))
        if [[ $T_PASS == yes ]]; then best=$r; else worst=$r; fi
        if (( worst == 0 )); then
            r=$((r * 2))
        else
            (( worst - best <= (best / 10 > 25 ? best / 10 : 25) )) && break
            r=$(( (best + worst) / 2 ))
        fi
    done
    if (( best > 0 )); then
        trial "$best" confirm "$SETTLE"
        [[ $T_PASS == yes ]] || log "the confirmation run at $best/s did NOT pass"
    fi
fi
log "RESULT setup rate: highest passing ${best} calls/s (lowest failing: ${worst}; 0 = none); target ≥ 1000 calls/s; rows in $CSV"
echo "setup_rate_max=$best first_fail=$worst"
