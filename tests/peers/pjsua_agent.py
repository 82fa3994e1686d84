#!/usr/bin/env python3
"""An agent's softphone on PJSIP (pjsua2), a SIP stack independent of ours, for the attended
transfer test: it registers with digest, logs in with the *1 feature code, answers the call
it is offered and talks (a tone WAV), then puts the caller on hold, calls a colleague by agent
id, talks to them, and transfers the caller with REFER/Replaces (RFC 3891) — as a desk phone's
"transfer" key does after a consultation.

Usage: pjsua_agent.py --port SIP_PORT --user marie --password PW --voice tone.wav
                      --colleague paul [--talk 3] [--consult 3]
Prints one line per step (REGISTERED, LOGGED_IN, ANSWERED, HELD, CONSULT_CONFIRMED,
TRANSFER_SENT, TRANSFER_STATUS <code>, CALL_CLOSED <n>) and exits 0 when both of its calls
ended after a transfer the server reported as done (NOTIFY 200); 1 otherwise.
"""

import argparse
import os
import sys
import time

import pjsua2 as pj


def log(*words):
    print(*words, flush=True)


def leave(code):
    # pjsua2's Python objects assert if destroyed after the library: leave without teardown
    # (the process's sockets close with it).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Account(pj.Account):
    def __init__(self, agent):
        super().__init__()
        self.agent = agent

    def onRegState(self, prm):
        if prm.code == 200 and self.getInfo().regIsActive:
            self.agent.registered = True

    def onIncomingCall(self, prm):
        call = Call(self.agent, self, prm.callId)
        self.agent.calls.append(call)
        self.agent.offered = call
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


class Call(pj.Call):
    def __init__(self, agent, acc, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.agent = agent
        self.confirmed = False
        self.closed = False
        self.xfer_status = None

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.closed = True
            log("CALL_CLOSED", ci.lastStatusCode, ci.remoteUri)

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, m in enumerate(ci.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                try:
                    self.agent.player.startTransmit(self.getAudioMedia(i))
                except pj.Error:
                    pass

    def onCallTransferStatus(self, prm):
        self.xfer_status = prm.statusCode
        log("TRANSFER_STATUS", prm.statusCode)
        # Keep the subscription until the final NOTIFY.
        prm.cont = prm.statusCode < 200


class Agent:
    def __init__(self):
        self.registered = False
        self.calls = []
        self.offered = None
        self.player = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--voice", required=True)
    ap.add_argument("--colleague", required=True)
    ap.add_argument("--talk", type=float, default=3.0)
    ap.add_argument("--consult", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=90.0)
    a = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 2
    cfg.logConfig.consoleLevel = 2
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():
        prio = 255 if c.codecId.startswith("PCMU/") else 0
        ep.codecSetPriority(c.codecId, prio)

    agent = Agent()
    agent.player = pj.AudioMediaPlayer()
    agent.player.createPlayer(a.voice, 0)

    server = f"127.0.0.1:{a.port}"
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{a.user}@{server}"
    acfg.regConfig.registrarUri = f"sip:{server}"
    acfg.regConfig.timeoutSec = 300
    cred = pj.AuthCredInfo("digest", "*", a.user, 0, a.password)
    acfg.sipConfig.authCreds.append(cred)
    acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    acc = Account(agent)
    acc.create(acfg)

    deadline = time.monotonic() + a.timeout

    def pump_until(cond, what):
        while not cond():
            if time.monotonic() > deadline:
                log("TIMEOUT", what)
                leave(1)
            ep.libHandleEvents(20)

    def pump_for(secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            ep.libHandleEvents(20)

    pump_until(lambda: agent.registered, "registration")
    log("REGISTERED")

    # Log in from the phone (feature code *1): the call ends by itself.
    login = Call(agent, acc)
    login.makeCall(f"sip:*1@{server}", pj.CallOpParam(True))
    pump_until(lambda: login.closed, "login")
    log("LOGGED_IN")

    pump_until(lambda: agent.offered is not None and agent.offered.confirmed, "an offer")
    caller = agent.offered
    log("ANSWERED")
    pump_for(a.talk)

    caller.setHold(pj.CallOpParam(True))
    pump_for(0.5)
    log("HELD")

    consult = Call(agent, acc)
    consult.makeCall(f"sip:{a.colleague}@{server}", pj.CallOpParam(True))
    pump_until(lambda: consult.confirmed or consult.closed, "the consultation")
    if not consult.confirmed:
        log("CONSULT_FAILED")
        leave(1)
    log("CONSULT_CONFIRMED")
    pump_for(a.consult)

    caller.xferReplaces(consult, pj.CallOpParam(True))
    log("TRANSFER_SENT")
    pump_until(lambda: caller.closed and consult.closed, "both calls to end")
    ok = caller.xfer_status is not None and 200 <= caller.xfer_status < 300
    log("DONE", "ok" if ok else "failed")
    leave(0 if ok else 1)


if __name__ == "__main__":
    main()
