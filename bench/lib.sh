# Shared helpers for the centrale benchmarks (sourced by bench/run-*.sh). Loopback only.
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
RESULTS=${RESULTS:-$BENCH_DIR/results}
# Build output outside the main target dir so the benchmark never fights `cargo test` for locks.
BENCH_TARGET_DIR=${BENCH_TARGET_DIR:-$ROOT/target/bench}
CENTRALE_BIN=${CENTRALE_BIN:-$BENCH_TARGET_DIR/release/centrale}
PROBE_BIN=${PROBE_BIN:-$BENCH_TARGET_DIR/probe/release/rtp-probe}
SIP_PORT=${SIP_PORT:-15060}      # centrale's SIP port (UDP+TCP) during a bench
SIPP_PORT=${SIPP_PORT:-15070}    # SIPp's local port (a second SIPp uses +2)
PROBE_PORT=${PROBE_PORT:-40000}  # every call's SDP points here (RTCP: +1)
RTP_MIN=${RTP_MIN:-20000}
RTP_MAX=${RTP_MAX:-39999}
MEDIA_THREADS=${MEDIA_THREADS:-0}
SERVER_LOG_LEVEL=${SERVER_LOG_LEVEL:-info}
# The dial plan the bench server serves (run-bridge.sh uses bench/dialplans/bridge).
DIALPLAN=${DIALPLAN:-$ROOT/dialplans/minimal}
HZ=$(getconf CLK_TCK)
# The server, SIPp and the probe run at this nice level (root can go negative) so that background
# builds on a shared dev box disturb the figures less; BENCH_NICE=0 to turn it off.
BENCH_NICE=${BENCH_NICE:--10}
NICE=(nice -n "$BENCH_NICE")

mkdir -p "$RESULTS/logs"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_tools() {
    command -v sipp >/dev/null || die "sipp missing: apt-get install -y --no-install-recommends sip-tester"
    command -v timeout >/dev/null || die "coreutils timeout missing"
}

# Build the server and the probe (release) unless they exist; BENCH_REBUILD=1 forces it.
build_all() {
    if [[ ! -x $CENTRALE_BIN || ${BENCH_REBUILD:-0} == 1 ]]; then
        log "building centrale (release) into $BENCH_TARGET_DIR"
        (cd "$ROOT" && CARGO_TARGET_DIR=$BENCH_TARGET_DIR nice -n 10 cargo build --release --bin centrale) || die "server build failed"
    fi
    if [[ ! -x $PROBE_BIN || ${BENCH_REBUILD:-0} == 1 ]]; then
        log "building rtp-probe (release)"
        (cd "$BENCH_DIR/rtp-probe" && CARGO_TARGET_DIR=$BENCH_TARGET_DIR/probe cargo build --release) || die "probe build failed"
    fi
}

raise_limits() {
    # Each call holds 3 fds in the server (RTP, its pacer clone, RTCP); SIPp needs a few too.
    ulimit -Hn 1048576 2>/dev/null || true
    ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

# --- /proc readers -----------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds_of() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Whole machine: "busy total" jiffies from /proc/stat.
# Prints "idle total_capacity": idle+iowait jiffies, and capacity = now × cores × HZ (summing
# the busy columns undercounts on this tickless VM; idle time is accounted exactly).
machine_ticks() { awk -v n="$(nproc)" -v hz="$HZ" -v t="$(date +%s.%N)" '/^cpu / {printf "%d %.2f\n", $5+$6, t*n*hz; exit}' /proc/stat; }
udp_field() { # udp_field NAME: a counter of the Udp: line of /proc/net/snmp
    awk -v f="$1" '/^Udp:/ { if (!h) { for (i=1;i<=NF;i++) idx[$i]=i; h=1 } else { print $idx[f]; exit } }' /proc/net/snmp
}
softnet_drops() { awk '{s+=strtonum("0x"$2)} END {print s+0}' /proc/net/softnet_stat; }
now_s() { date +%s.%N; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b>0) printf "%.1f", 100*a/b; else print "0" }'; }
# Server CPU % of one core between two tick readings over a wall interval (s).
cpu_pct() { awk -v t="$1" -v w="$2" -v hz="$HZ" 'BEGIN { if (w>0) printf "%.1f", 100*t/hz/w; else print "0" }'; }

# Everything else on the machine (other users' builds…), in % of one core, over the window:
# machine busy (both cores) − server − extra (SIPp + probe, % of one core).
other_load() { awk -v m="$W_MACHINE_CPU" -v s="$W_SERVER_CPU" -v x="${1:-0}" 'BEGIN { v=2*m-s-x; if (v<0) v=0; printf "%.0f", v }'; }

snap_begin() { # snap_begin: remember counters at the start of a measured window
    S_T0=$(now_s); S_CPU0=$(cpu_ticks "$SERVER_PID"); read -r S_MB0 S_MT0 < <(machine_ticks)
    S_INERR0=$(udp_field InErrors); S_RCVBUF0=$(udp_field RcvbufErrors); S_SNDBUF0=$(udp_field SndbufErrors)
    S_SOFTNET0=$(softnet_drops)
}
snap_end() { # snap_end: compute window figures into W_* variables
    local t1 cpu1 mb1 mt1
    t1=$(now_s); cpu1=$(cpu_ticks "$SERVER_PID"); read -r mb1 mt1 < <(machine_ticks)
    W_WALL=$(awk -v a="$S_T0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}')
    W_SERVER_CPU=$(cpu_pct $((cpu1 - S_CPU0)) "$W_WALL")
    W_MACHINE_CPU=$(awk -v i0="$S_MB0" -v i1="$mb1" -v c0="$S_MT0" -v c1="$mt1" 'BEGIN { c=c1-c0; v=(c>0)?100*(1-(i1-i0)/c):0; if (v<0) v=0; printf "%.1f", v }')   # % of all cores (100 = both busy)
    W_INERR=$(( $(udp_field InErrors) - S_INERR0 ))
    W_RCVBUF=$(( $(udp_field RcvbufErrors) - S_RCVBUF0 ))
    W_SNDBUF=$(( $(udp_field SndbufErrors) - S_SNDBUF0 ))
    W_SOFTNET=$(( $(softnet_drops) - S_SOFTNET0 ))
}

# --- the server --------------------------------------------------------------------------
# start_server MAX_CALLS: temp config + SQLite in a temp dir; sets SERVER_PID, RUN_DIR, SERVER_LOG.
start_server() {
    local max_calls=${1:-10000}
    RUN_DIR=$(mktemp -d /tmp/c311-bench.XXXXXX)
    mkdir -p "$RUN_DIR/journal" "$RUN_DIR/recordings"
    # AGENTS_FILE: an agents.toml to serve (copied in before the server starts).
    [[ -n ${AGENTS_FILE:-} ]] && cp "$AGENTS_FILE" "$RUN_DIR/agents.toml"
    cat >"$RUN_DIR/server.toml" <<EOF
[sip]
udp = ["127.0.0.1:$SIP_PORT"]
tcp = ["127.0.0.1:$SIP_PORT"]

[media]
ip = "127.0.0.1"
rtp_min = $RTP_MIN
rtp_max = $RTP_MAX
threads = $MEDIA_THREADS
pin_threads = ${MEDIA_PIN:-true}
realtime = ${MEDIA_RT:-true}

[limits]
max_calls = $max_calls
# SIPp's thousands of calls all come from one address: no per-source limit in a bench.
invites_per_source_per_min = 0

[database]
url = "sqlite://$RUN_DIR/calls.db"

[paths]
prompts = "$ROOT/prompts"
dialplan = "$DIALPLAN"
agents = "$RUN_DIR/agents.toml"
recordings = "$RUN_DIR/recordings"
journal = "$RUN_DIR/journal"
EOF
    SERVER_LOG=$RUN_DIR/server.log
    # BENCH_PRIVATE_NAME=1 runs a copy of the binary named c311-bench-srv: on a shared dev box a
    # colleague's `pkill centrale` (seen here, with perf's signal:signal_generate) then cannot
    # end the server under test mid-run.
    local bin=$CENTRALE_BIN
    if [[ ${BENCH_PRIVATE_NAME:-0} == 1 ]]; then
        bin=$RUN_DIR/c311-bench-srv; cp "$CENTRALE_BIN" "$bin"
    fi
    # SERVE_ARGS: more `serve` options (run-webrtc.sh opens the HTTPS listener).
    # shellcheck disable=SC2086
    "${NICE[@]}" "$bin" --config "$RUN_DIR/server.toml" --log "$SERVER_LOG_LEVEL" serve --admin off ${SERVE_ARGS:---web off} \
        >"$RUN_DIR/server.out" 2>"$SERVER_LOG" &
    SERVER_PID=$!
    local i
    for i in $(seq 1 200); do
        grep -q "centrale listening" "$RUN_DIR/server.out" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; die "server exited at start"; }
        sleep 0.1
    done
    grep -q "centrale listening" "$RUN_DIR/server.out" || die "server not listening after 20 s"
    sleep 2   # let prompt decoding settle before taking the baseline
    shard_threads
    BASE_RSS=$(rss_kb "$SERVER_PID"); BASE_THREADS=$(threads_of "$SERVER_PID"); BASE_FDS=$(fds_of "$SERVER_PID")
    log "server pid $SERVER_PID up ($(head -1 "$RUN_DIR/server.out")); baseline RSS ${BASE_RSS} kB, ${BASE_THREADS} threads, ${BASE_FDS} fds"
}

# The media shard threads place themselves (src/media/engine/placement.rs): nice −5 under the
# process, one CPU each (MEDIA_PIN=false: not pinned), SCHED_RR while they have room
# (MEDIA_RT=false: never). Logs what they got, as "tid:nice/pol<policy>:<CPUs>" (policy 0 =
# normal, 2 = SCHED_RR), into PACER_NICE.
shard_threads() {
    local t
    PACER_NICE=
    for t in /proc/"$SERVER_PID"/task/*; do
        [[ $(cat "$t/comm" 2>/dev/null) == media-* ]] || continue
        PACER_NICE+="${t##*/}:$(awk '{print $19 "/pol" $41}' "$t/stat"):$(taskset -p -c "${t##*/}" 2>/dev/null | sed 's/.*: //') "
    done
    log "media shard threads (tid:nice/policy:CPUs): ${PACER_NICE:-none found}"
}

# keep_server_log TAG: the server's warnings/errors and last lines go next to the run's logs.
# With PROFILE=1: flat, call-tree and per-thread summaries of logs/TAG.perf.data.
perf_reports() {
    local tag=$1 data="$RESULTS/logs/$1.perf.data"
    [[ ${PROFILE:-0} == 1 && -s $data ]] || return 0
    perf report -i "$data" --no-children --stdio --percent-limit 0.5 -g none 2>/dev/null | grep -v '^$' | head -80 >"$RESULTS/logs/$tag.perf.txt"
    perf report -i "$data" --children --stdio --percent-limit 3 -g caller,0.5,callee --max-stack 30 2>/dev/null | grep -v '^$' | head -300 >"$RESULTS/logs/$tag.perf-tree.txt"
    perf report -i "$data" --no-children --stdio -s comm,pid -g none 2>/dev/null | grep -v '^$' | head -40 >"$RESULTS/logs/$tag.perf-threads.txt"
    log "profile: $RESULTS/logs/$tag.perf.txt (+ -tree, -threads)"
}

keep_server_log() {
    [[ -n ${SERVER_LOG:-} && -f $SERVER_LOG ]] || return 0
    { grep -v " INFO " "$SERVER_LOG" | head -200; echo "--- last lines"; tail -20 "$SERVER_LOG"; } >"$RESULTS/logs/$1.server.txt" 2>/dev/null
    echo "--- call log database: $(du -ck "$RUN_DIR"/calls.db* 2>/dev/null | tail -1 | cut -f1) kB" >>"$RESULTS/logs/$1.server.txt"
    grep -o "shedding new calls\|no RTP port for a new call\|panicked[^\n]*" "$SERVER_LOG" | sort | uniq -c >>"$RESULTS/logs/$1.server.txt"
}

stop_server() {
    [[ -n ${SERVER_PID:-} ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        local i
        for i in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

calls_started() { grep -c "new call to=" "$SERVER_LOG" 2>/dev/null || true; }
calls_ended() { grep -c "call ended outcome=" "$SERVER_LOG" 2>/dev/null || true; }
# Calls refused by their own task after "new call" (no RTP port, SDP refused…) log a warning
# and no "call ended" line; shed INVITEs (503 from the SIP driver) log neither.
calls_refused_in_task() { grep -c "no RTP port for a new call" "$SERVER_LOG" 2>/dev/null || true; }

# wait_drain SECONDS: wait until every call that started has ended (log lines), then until
# SECONDS after that call, and check RSS/threads/fds came back. Sets D_* variables.
wait_drain() {
    local settle=${1:-40} i s e r
    for i in $(seq 1 120); do
        s=$(calls_started); e=$(calls_ended); r=$(calls_refused_in_task)
        [[ $s == $((e + r)) ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 1
    done
    D_STARTED=$s; D_ENDED=$e; D_REFUSED=$r; D_LIVE=$((s - e - r)); D_DRAIN_S=$i
    sleep "$settle"
    D_ALIVE=yes; kill -0 "$SERVER_PID" 2>/dev/null || D_ALIVE=no
    D_RSS=$(rss_kb "$SERVER_PID"); D_THREADS=$(threads_of "$SERVER_PID"); D_FDS=$(fds_of "$SERVER_PID")
    D_HWM=$(hwm_kb "$SERVER_PID")
    # "Near baseline": within 8 MB + 20 % of what the run added at its peak.
    D_RSS_OK=$(awk -v b="$BASE_RSS" -v a="$D_RSS" -v p="$D_HWM" 'BEGIN { print (a-b <= 8192 + 0.2*(p-b)) ? "yes" : "no" }')
    D_CLEAN=no
    [[ $D_ALIVE == yes && $D_LIVE == 0 && $D_THREADS -le $BASE_THREADS && $D_FDS -le $((BASE_FDS + 2)) && $D_RSS_OK == yes ]] && D_CLEAN=yes
    log "drain: server alive: $D_ALIVE; started $D_STARTED ended $D_ENDED refused-in-task $D_REFUSED (live $D_LIVE after ${D_DRAIN_S}s); +${settle}s: RSS ${D_RSS} kB (baseline ${BASE_RSS}, peak ${D_HWM}, near baseline: $D_RSS_OK), threads $D_THREADS (baseline $BASE_THREADS), fds $D_FDS (baseline $BASE_FDS) => clean: $D_CLEAN"
}

# After a run no stream may still send: listen a few seconds and expect silence.
check_rtp_silent() { # check_rtp_silent SECONDS [PORTS]: PORTS probe ports from $PROBE_PORT (each + RTCP)
    local out
    out=$("$PROBE_BIN" --port "$PROBE_PORT" --ports "${2:-1}" --rtcp --duration "${1:-3}" --min-packets 1 --quiet 2>/dev/null)
    D_LEAKED_STREAMS=$(sed -n 's/.*"streams_seen":\([0-9]*\).*/\1/p' <<<"$out")
    log "RTP after the run: ${D_LEAKED_STREAMS:-?} stream(s) still sending"
}

# json_get FILE KEY.SUBKEY: tiny extractor for the probe's flat JSON (no jq needed).
json_get() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    for k in sys.argv[2].split('.'):
        d = d[k]
    print(d)
except Exception:
    print("")
EOF
}

# sipp_stat FILE COLUMN: last row's value of a -trace_stat column (e.g. "FailedCall(C)").
sipp_stat() {
    awk -F';' -v col="$2" 'NR==1 { for (i=1;i<=NF;i++) if ($i==col) c=i; next } { last=$c } END { print (last=="" ? 0 : last) }' "$1" 2>/dev/null
}
# SIPp durations look like 00:00:00:002000 (h:m:s:µs): to milliseconds.
sipp_ms() { awk -F: '{ if (NF==4) printf "%.2f", ($1*3600+$2*60+$3)*1000 + $4/1000; else print $0 }' <<<"$1"; }

machine_line() {
    local model kernel
    model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
    kernel=$(uname -r)
    echo "$model, $(nproc) cores, kernel $kernel"
}

# HEAD when the run happened, and the build time of the binary measured (the tree may have moved on).
git_rev() { echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)/bin-$(date -u -r "$CENTRALE_BIN" +%Y%m%dT%H%M 2>/dev/null)"; }

top_snapshot() { # top_snapshot FILE: one batch snapshot of the busiest processes
    { echo "=== $(date +%T)"; top -b -n 2 -d 2 -w 200 | awk '/^top -/{n++} n==2' | head -20; } >>"$1" 2>&1
}

# csv_append FILE HEADER ROW
csv_append() {
    [[ -s $1 ]] || echo "$2" >"$1"
    echo "$3" >>"$1"
}

cleanup_pids=()
cleanup() {
    local p
    for p in "${cleanup_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done  # background jobs ignore SIGINT
    stop_server
    [[ -n ${RUN_DIR:-} && -d $RUN_DIR && ${KEEP_RUN_DIR:-0} != 1 ]] && rm -rf "$RUN_DIR"
}
trap cleanup EXIT
