#!/usr/bin/env python3
"""An agent at the browser desktop, played in headless Chromium (the system's /usr/bin/chromium,
driven by Playwright over the DevTools protocol; no browser is downloaded).

The fake microphone plays --voice (a WAV); the page's RTCPeerConnections are kept (an init
script wraps the constructor) so their getStats() can be read. Steps are printed as JSON lines
on stdout, so the Rust test can act between them:

  {"step": "ready"}                 signed in and available: start the caller now
  {"step": "ringing", "pop": {...}} the offer arrived (screen pop as shown)
  {"step": "talking", ...}          answered, audio up
  {"step": "done", "stats": {...}}  wrapped up with a disposition

Options select the behaviour: --close-on-ring closes the tab while it rings (the caller must go
back to the queue); --hangup hangs up from the page instead of waiting for the caller; --expect
a CSS selector that must appear (used by the security and bad-input tests); --abuse, once
available, sends bad input ({"step": "abuse", ...}: malformed and unknown messages on a second
socket, an oversized one, a socket from another origin, a forged session cookie), then goes
ready again and carries on.
"""
import argparse
import json
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

KEEP_PCS = """
(() => {
  const Orig = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Orig(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Orig.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Orig);
})();
"""

STATS = """
async () => {
  const out = { inbound: 0, energy: 0, outbound: 0, codec: null };
  for (const pc of window.__pcs || []) {
    const stats = await pc.getStats();
    const codecs = {};
    stats.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inbound += s.packetsReceived || 0;
        out.energy += s.totalAudioEnergy || 0;
        if (s.codecId && codecs[s.codecId]) out.codec = codecs[s.codecId];
      }
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out.outbound += s.packetsSent || 0;
    });
  }
  return out;
}
"""


def say(**kw):
    print(json.dumps(kw), flush=True)


def field(page, name):
    el = page.query_selector(f'[data-field="{name}"]')
    return el.inner_text().strip() if el else None


MEDIA_PORT = """
() => {
  for (const pc of window.__pcs || []) {
    const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || '';
    const m = sdp.match(/a=candidate:\\S+ \\d+ udp \\d+ \\S+ (\\d+) typ host/i);
    if (m) return Number(m[1]);
  }
  return null;
}
"""

ABUSE = """
async () => {
  const url = location.origin.replace('https', 'wss') + '/agent/ws';
  const ws = new WebSocket(url);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej('no socket'); setTimeout(() => rej('timeout'), 5000); });
  const replies = [];
  ws.onmessage = (e) => replies.push(e.data);
  for (const m of ['not json at all', '{"type":"nope"}', '{"type":"ready","extra":', '[]',
                   '{"type":"answer","leg":"nope/9","sdp":"v=0 garbage"}',
                   '{"type":"hold","leg":"nope/9","on":"yes"}',
                   '{"type":"transfer","leg":"x","to":{"queue":"../../etc/passwd"}}',
                   '{"type":"disposition","call":"nope","code":"<script>"}']) ws.send(m);
  await new Promise((r) => setTimeout(r, 1500));
  const openAfterBad = ws.readyState === 1;
  ws.send(JSON.stringify({ type: 'pause', reason: 'x'.repeat(100000) }));
  await new Promise((r) => setTimeout(r, 1500));
  return { replies, openAfterBad, closedAfterHuge: ws.readyState === 3 };
}
"""

CROSS_ORIGIN = """
async (url) => new Promise((res) => {
  const ws = new WebSocket(url);
  ws.onopen = () => res('opened');
  ws.onerror = () => res('refused');
  setTimeout(() => res('timeout'), 5000);
})
"""


def abuse(p, page, a, timeout_ms):
    """Bad input against the desktop's socket and session; the page must keep working."""
    result = page.evaluate(ABUSE)
    result["state_after_bad"] = page.get_attribute('[data-field="state"]', "data-state")
    origin = a.url.split("/agent")[0]
    # Another origin (about:blank: Origin "null") cannot open the agent's socket.
    other = page.context.new_page()
    other.goto("about:blank")
    result["cross_origin"] = other.evaluate(CROSS_ORIGIN, origin.replace("https", "wss") + "/agent/ws")
    other.close()
    # A forged session cookie in a fresh browser gets the sign-in page, not the desktop.
    b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                          args=["--no-sandbox", "--disable-gpu"])
    fresh = b.new_context(ignore_https_errors=True)
    fresh.add_cookies([{"name": "centrale_session", "value": "forged-" + "a" * 40,
                        "url": origin, "secure": True, "httpOnly": True}])
    fp = fresh.new_page()
    fp.goto(a.url)
    result["forged_sees_signin"] = fp.query_selector('input[name="password"]') is not None
    result["forged_socket"] = fp.evaluate(CROSS_ORIGIN, origin.replace("https", "wss") + "/agent/ws")
    b.close()
    # Only the abusive socket was dropped: the page, still connected, keeps the agent
    # available (an agent is paused when their last desktop socket goes).
    page.wait_for_selector('[data-field="state"][data-state="available"]', timeout=timeout_ms)
    say(step="abuse", **result)


# What the error line reports about the page when a step fails.
SEEN = {}


def page_state():
    page = SEEN.get("page")
    if page is None:
        return {}
    try:
        return {
            "url": page.url,
            "notice": page.inner_text("#notice") if page.query_selector("#notice") else None,
            "phase": page.get_attribute("#call", "data-phase") if page.query_selector("#call") else None,
            "state": page.get_attribute('[data-field="state"]', "data-state")
            if page.query_selector('[data-field="state"]') else None,
        }
    except Exception as e:  # the page itself may be gone
        return {"unreadable": str(e)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--voice", required=True)
    ap.add_argument("--talk-s", type=float, default=6.0)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    ap.add_argument("--disposition", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--close-on-ring", action="store_true")
    ap.add_argument("--hangup", action="store_true")
    ap.add_argument("--rings", type=int, default=1, help="calls to take before finishing")
    ap.add_argument("--keys", default="", help="keypad keys to press while talking")
    ap.add_argument("--hold-s", type=float, default=0.0, help="put the caller on hold this long")
    ap.add_argument("--transfer", default="", help="queue:NAME or target:NAME, after talking")
    ap.add_argument("--consult", default="",
                    help="after talking, consult this colleague (agent id), then transfer to them")
    ap.add_argument("--consult-s", type=float, default=3.0, help="talk to the colleague this long")
    ap.add_argument("--abuse", action="store_true", help="send bad input once available")
    ap.add_argument("--auto", action="store_true", help="the page answers by itself (agents.toml)")
    ap.add_argument("--expect-expiry", action="store_true",
                    help="once ready, wait for the session to expire and the sign-in page to show")
    a = ap.parse_args()
    timeout_ms = a.timeout_s * 1000

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            ignore_https_errors=True,
            permissions=["microphone"],
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={a.voice}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        ctx.add_init_script(KEEP_PCS)
        page = ctx.new_page()
        SEEN["page"] = page
        try:
            page.goto(a.url)
            page.fill('input[name="username"]', a.user)
            page.fill('input[name="password"]', a.password)
            page.click('button[type="submit"]')
            page.wait_for_selector('[data-field="state"]', timeout=timeout_ms)
            # The desktop's socket said hello (the agent's name is shown): "ready" reaches the server.
            page.wait_for_function(
                "() => document.querySelector('[data-field=\"agent\"]').textContent.trim() !== ''",
                timeout=timeout_ms)
            page.click('[data-action="ready"]')
            page.wait_for_selector('[data-field="state"][data-state="available"]', timeout=timeout_ms)
            if a.abuse:
                abuse(p, page, a, timeout_ms)
            say(step="ready")
            if a.expect_expiry:
                page.wait_for_selector('input[name="password"]', timeout=timeout_ms)
                say(step="expired", url=page.url, notice=page.inner_text("#error"))
                status = page.evaluate("async () => (await fetch('/agent/session')).status")
                say(step="session", status=status)
                ctx.close()
                return
            for n in range(a.rings):
                if not a.auto:
                    page.wait_for_selector('[data-field="state"][data-state="ringing"]', timeout=timeout_ms)
                    page.wait_for_selector('#call[data-phase="ringing"]', timeout=timeout_ms)
                    pop = {k: field(page, k) for k in
                           ["caller", "language", "queue", "path", "history", "knowledge", "callback"]}
                    k = page.query_selector('[data-field="knowledge"] a')
                    pop["knowledge_href"] = k.get_attribute("href") if k else None
                    pop["language_code"] = page.get_attribute('[data-field="language"]', "data-value")
                    say(step="ringing", n=n, pop=pop)
                    if a.close_on_ring:
                        page.close()
                        ctx.close()
                        say(step="closed")
                        return
                    page.click('[data-action="answer"]')
                page.wait_for_selector('#call[data-phase="talking"]', timeout=timeout_ms)
                page.wait_for_selector('[data-field="state"][data-state="on_call"]', timeout=timeout_ms)
                port = page.evaluate(MEDIA_PORT)
                options = page.eval_on_selector_all('select[name="transfer-to"] option',
                                                    "os => os.map((o) => o.value)")
                say(step="talking", n=n, media_port=port, transfer_options=options)
                for k in a.keys:
                    page.click(f'.keypad [data-key="{k}"]')
                    time.sleep(0.4)
                if a.hold_s > 0:
                    page.click('[data-action="hold"]')
                    say(step="held", n=n)
                    time.sleep(a.hold_s)
                    page.click('[data-action="hold"]')
                    say(step="resumed", n=n)
                time.sleep(a.talk_s)
                stats = page.evaluate(STATS)
                say(step="stats", n=n, stats=stats)
                if a.transfer:
                    page.select_option('select[name="transfer-to"]', a.transfer)
                    page.click('[data-action="transfer"]')
                    say(step="transferred", n=n)
                if a.consult:
                    page.select_option('select[name="transfer-to"]', f"agent:{a.consult}")
                    page.click('[data-action="consult"]')
                    say(step="consulting", n=n)
                    page.wait_for_selector(
                        '[data-action="consult-complete"]:not([hidden]):not([disabled])',
                        timeout=timeout_ms)
                    say(step="consulted", n=n, notice=page.inner_text("#notice"))
                    time.sleep(a.consult_s)
                    page.click('[data-action="consult-complete"]')
                    say(step="transferred", n=n)
                if a.hangup:
                    page.click('[data-action="hangup"]')
                page.wait_for_selector('#call[data-phase="wrapup"]', timeout=timeout_ms)
                page.wait_for_selector('[data-field="state"][data-state="wrap_up"]', timeout=timeout_ms)
                if a.disposition:
                    page.select_option('[data-field="disposition"]', a.disposition)
                page.fill('textarea[name="note"]', a.note)
                page.click('[data-action="wrapup-done"]')
                page.wait_for_selector('[data-field="state"][data-state="available"]', timeout=timeout_ms)
                say(step="done", n=n, stats=stats)
            ctx.close()
        except Exception:
            SEEN["state"] = page_state()
            raise


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the Rust test prints this line when it fails
        say(step="error", error=f"{type(e).__name__}: {e}", page=SEEN.get("state"))
        sys.exit(1)
