#!/usr/bin/env bash
# WebRTC agents: N browser-like agents (bench/webrtc-peers: str0m, the library the server uses,
# no browser) sign in to the agent desktop over HTTPS, open its WebSocket and go ready; then N
# SIPp callers (bench/sipp/webrtc_caller.xml) dial in at RAMP_RATE calls/s and are queued
# (bench/dialplans/webrtc); the ACD offers each to an agent, whose peer makes the SDP offer as a
# browser does (full ICE, DTLS active), the server answers ICE-lite, and the media shard relays
# the caller's plain RTP (a steady 20 ms µ-law stream, SIPp rtp_stream) to the peer over SRTP
# while the peer sends 20 ms PCMU frames back. Measured: handshake time (offer → DTLS-SRTP up,
# at the peer) p50/p99/max for the agents connecting together; RTP received by the peers
# (packets, sequence gaps = loss, the longest silence); server CPU and RSS in the HOLD window
# once every call is up, per bridged pair.
#
#   bench/run-webrtc.sh 100            # N pairs
# Env: RAMP_RATE (N: all at once), HOLD (40), WEB_PORT (18443), CENTRALE_BIN.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
DIALPLAN=$BENCH_DIR/dialplans/webrtc
need_tools
build_all
raise_limits

N=${1:?usage: run-webrtc.sh N_PAIRS}
RATE=${RAMP_RATE:-$N}
HOLD=${HOLD:-40}
WEB_PORT=${WEB_PORT:-18443}
PASSWORD=bench-password-2027
CSV=$RESULTS/webrtc.csv
STAMP=$(date +%Y%m%d-%H%M%S)
TAG="webrtc-$STAMP-$N"
PJ=$RESULTS/logs/$TAG.peers.json
PERR=$RESULTS/logs/$TAG.peers.err
STF=$RESULTS/logs/$TAG.caller-stat.csv
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
PEERS_BIN=$BENCH_TARGET_DIR/peers/release/webrtc-peers
if [[ ! -x $PEERS_BIN || ${BENCH_REBUILD:-0} == 1 ]]; then
    log "building webrtc-peers (release)"
    (cd "$BENCH_DIR/webrtc-peers" && CARGO_TARGET_DIR=$BENCH_TARGET_DIR/peers nice -n 10 cargo build --release) || die "peers build failed"
fi
"$CENTRALE_BIN" check "$DIALPLAN" >/dev/null 2>&1 || { "$CENTRALE_BIN" check "$DIALPLAN"; die "dial plan $DIALPLAN does not pass centrale check"; }

# N agents bench0000… with one password, speaking French (the plan's language).
WORK=$(mktemp -d /tmp/c311-webrtc.XXXXXX)
python3 - "$N" "$PASSWORD" >"$WORK/agents.toml" <<'PY'
import hashlib, sys
n, pw = int(sys.argv[1]), sys.argv[2]
print('realm = "centrale"')
for i in range(n):
    u = f"bench{i:04d}"
    md5 = hashlib.md5(f"{u}:centrale:{pw}".encode()).hexdigest()
    sha = hashlib.sha256(f"{u}:centrale:{pw}".encode()).hexdigest()
    print(f'\n[[agent]]\nid = "{u}"\nusername = "{u}"\nskills = {{ fr = 1 }}\nha1_md5 = "{md5}"\nha1_sha256 = "{sha}"')
PY
# The callers' voice: 10 s of a 440 Hz tone, headerless µ-law (what rtp_stream wants).
sox -n -r 8000 -c 1 -e u-law -t raw "$WORK/voice.ulaw" synth 10 sine 440 vol 0.3 2>/dev/null \
    || die "sox missing: apt-get install -y --no-install-recommends sox"

AGENTS_FILE=$WORK/agents.toml SERVE_ARGS="--web 127.0.0.1:$WEB_PORT" start_server $((N + 100))
trap 'stop_server; rm -rf "$WORK"' EXIT

# The agents sign in and go ready.
"${NICE[@]}" "$PEERS_BIN" --url "https://127.0.0.1:$WEB_PORT" --agents "$N" --prefix bench \
    --password "$PASSWORD" --talk-s $((HOLD + 60)) --run-s $(( (N + ${RAMP_RATE:-$N} - 1) / ${RAMP_RATE:-$N} + HOLD + 90 )) --ready-file "$WORK/ready" >"$PJ" 2>"$PERR" &
PEERS_PID=$!
for _ in $(seq 1 1200); do [[ -s $WORK/ready ]] && break; sleep 0.1; done
READY=$(cat "$WORK/ready" 2>/dev/null || echo 0)
log "$READY/$N agents ready"
(( READY == N )) || log "WARNING: only $READY of $N agents are ready"

# The callers, all in RAMP s; the measured window starts once every call has had 10 s to
# connect and lasts HOLD − 15 s.
RAMP=$(( (N + RATE - 1) / RATE ))
HOLD_MS=$(( (RAMP + HOLD) * 1000 ))
sed "s|@AUDIO@|$WORK/voice.ulaw|" "$BENCH_DIR/sipp/webrtc_caller.xml" >"$WORK/caller.xml"
timeout -k 5 -s INT $((RAMP + HOLD + 90)) "${NICE[@]}" sipp -sf "$WORK/caller.xml" \
    -i 127.0.0.1 -p "$SIPP_PORT" -s 311 -m "$N" -r "$RATE" -l "$N" -d "$HOLD_MS" \
    -buff_size 4194304 -nostdin \
    -trace_stat -fd 1 -stf "$STF" -trace_err -error_file "$RESULTS/logs/$TAG.sipp-err.log" \
    "127.0.0.1:$SIP_PORT" >"$RESULTS/logs/$TAG.sipp.txt" 2>&1 &
SIPP_PID=$!
sleep $((RAMP + 10))
snap_begin
RSS0=$(rss_kb "$SERVER_PID")
sleep $((HOLD - 15))
snap_end
RSS1=$(rss_kb "$SERVER_PID")
wait "$SIPP_PID"; SIPP_RC=$?
wait "$PEERS_PID"
keep_server_log "$TAG"
python3 - "$PJ" "$N" "$W_SERVER_CPU" "$RSS1" "$BASE_RSS" "$SIPP_RC" "$W_MACHINE_CPU" "$LOAD0" "$TAG" "$CSV" <<'PY'
import json, sys, os
pj, n, cpu, rss, base, rc, mcpu, load, tag, csv = sys.argv[1:]
p = json.load(open(pj))
n = int(n)
hs = p["handshake_ms"]
rx, gaps = p["rtp_received"], p["rtp_gaps"]
loss = 100.0 * gaps / (rx + gaps) if rx + gaps else 0.0
cpu = float(cpu)
per_pair_rss = (int(rss) - int(base)) / max(n, 1)
fmt = lambda v: "-" if v is None else f"{v:.0f}"
print(f"WebRTC pairs: {n}  ready {p['ready']}  connected {p['connected']}  errors {p['errors']}  sipp exit {rc}")
print(f"  handshake (offer -> DTLS-SRTP up) p50 {fmt(hs['p50'])} ms  p99 {fmt(hs['p99'])} ms  max {fmt(hs['max'])} ms")
print(f"  caller -> browser RTP: {rx} packets, {gaps} missing ({loss:.3f} %), longest silence {p['longest_silence_ms']:.0f} ms; browser -> caller sent {p['rtp_sent']}")
print(f"  server CPU {cpu:.1f} % of a core ({cpu / max(n, 1) * 10:.2f} ms of CPU per pair per second); machine {mcpu} % of both cores; RSS +{per_pair_rss:.0f} kB per pair")
if p["first_errors"]:
    print("  first errors:", *p["first_errors"], sep="\n    ")
new = not os.path.exists(csv)
with open(csv, "a") as f:
    if new:
        f.write("tag,pairs,ready,connected,errors,hs_p50_ms,hs_p99_ms,hs_max_ms,rtp_rx,rtp_missing,loss_pct,longest_silence_ms,server_cpu_pct,machine_cpu_pct,rss_kb_per_pair,sipp_rc,load_before\n")
    f.write(f"{tag},{n},{p['ready']},{p['connected']},{p['errors']},{fmt(hs['p50'])},{fmt(hs['p99'])},{fmt(hs['max'])},{rx},{gaps},{loss:.3f},{p['longest_silence_ms']:.0f},{cpu:.1f},{mcpu},{per_pair_rss:.0f},{rc},{load}\n")
PY
