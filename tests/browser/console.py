#!/usr/bin/env python3
"""An admin or supervisor at the console, played in headless Chromium (the system's
/usr/bin/chromium, driven by Playwright; no browser is downloaded).

The Rust test sends one JSON command per line on stdin and reads one JSON line per command on
stdout, so it can place calls with SIPp between the steps:

  {"do": "signin", "user": "...", "password": "..."}     -> {"step": "signin", "ok": true}
  {"do": "edit", "file": "plan.toml", "old": "...", "new": "..."}
  {"do": "validate"} / {"do": "publish", "comment": "..."}
        -> {"status": "...", "errors": [{"file", "line", "text"}], "selected_line": N}
  {"do": "rollback", "version": N}
  {"do": "wait_queue", "queue": "general", "waiting": 1}  -> {"ms": time until shown}
  {"do": "agent_action", "agent": "luc", "action": "login"}
  {"do": "wait_agent", "agent": "luc", "state": "available"} -> {"ms": ...}
  {"do": "audit"}                                           -> {"rows": [[...], ...]}
  {"do": "quit"}
"""
import argparse
import json
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright


def say(**kw):
    print(json.dumps(kw), flush=True)


def status(page):
    return page.inner_text("#status").strip()


def diagnostics(page):
    out = []
    for li in page.query_selector_all('[data-field="errors"] li'):
        out.append({
            "file": li.get_attribute("data-file"),
            "line": int(li.get_attribute("data-line") or 0),
            "text": li.inner_text().strip(),
        })
    return out


def selected_line(page):
    return page.evaluate("""() => {
        const ta = document.querySelector('textarea[name="plan-text"]');
        return ta.value.slice(0, ta.selectionStart).split('\\n').length;
    }""")


def wait_status_change(page, before, timeout_ms):
    page.wait_for_function(
        "(b) => document.querySelector('#status').textContent.trim() !== b",
        arg=before, timeout=timeout_ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--timeout-s", type=float, default=30.0)
    ap.add_argument("--voice", default="", help="WAV the fake microphone plays")
    a = ap.parse_args()
    timeout_ms = a.timeout_s * 1000

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path="/usr/bin/chromium",
            headless=True,
            ignore_https_errors=True,
            permissions=["microphone"] if a.voice else [],
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
            + (["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={a.voice}"] if a.voice else []),
        )
        page = ctx.new_page()
        page.goto(a.url)
        for line in sys.stdin:
            cmd = json.loads(line)
            do = cmd["do"]
            if do == "quit":
                say(step="quit")
                break
            if do == "signin":
                page.fill('input[name="username"]', cmd["user"])
                page.fill('input[name="password"]', cmd["password"])
                page.click('button[type="submit"]')
                page.wait_for_selector('[data-field="queues"]', state="attached", timeout=timeout_ms)
                say(step="signin", ok=True)
            elif do == "edit":
                page.click('[data-tab="plan"]')
                page.wait_for_selector(f'[data-file="{cmd["file"]}"]', timeout=timeout_ms)
                page.click(f'[data-file="{cmd["file"]}"]')
                text = page.input_value('textarea[name="plan-text"]')
                if cmd["old"] not in text:
                    raise RuntimeError(f'{cmd["old"]!r} is not in {cmd["file"]}')
                page.fill('textarea[name="plan-text"]', text.replace(cmd["old"], cmd["new"], 1))
                say(step="edit")
            elif do in ("validate", "publish"):
                before = status(page)
                page.evaluate("() => { document.querySelector('#status').textContent = '…'; }")
                if do == "publish":
                    page.fill('input[name="comment"]', cmd.get("comment", ""))
                page.click(f'[data-action="{do}"]')
                wait_status_change(page, "…", timeout_ms)
                say(step=do, status=status(page), errors=diagnostics(page),
                    selected_line=selected_line(page), before=before,
                    warnings=[li.inner_text() for li in page.query_selector_all('[data-field="warnings"] li')])
            elif do == "rollback":
                page.click('[data-tab="versions"]')
                sel = f'[data-rollback="{cmd["version"]}"]'
                page.wait_for_selector(sel, timeout=timeout_ms)
                page.evaluate("() => { document.querySelector('#status').textContent = '…'; }")
                page.click(sel)
                wait_status_change(page, "…", timeout_ms)
                say(step="rollback", status=status(page))
            elif do == "wait_queue":
                page.click('[data-tab="wallboard"]')
                t0 = time.monotonic()
                page.wait_for_selector(
                    f'tr[data-queue="{cmd["queue"]}"][data-waiting="{cmd["waiting"]}"]',
                    timeout=timeout_ms)
                say(step="wait_queue", ms=int((time.monotonic() - t0) * 1000))
            elif do == "agent_action":
                r = page.evaluate("""async ([agent, action]) => {
                    const csrf = document.querySelector('meta[name="csrf-token"]').content;
                    const r = await fetch(`/api/agents/${agent}/${action}`,
                        {method: 'POST', headers: {'X-CSRF-Token': csrf}});
                    return r.status;
                }""", [cmd["agent"], cmd["action"]])
                say(step="agent_action", status=r)
            elif do == "wait_agent":
                page.click('[data-tab="wallboard"]')
                t0 = time.monotonic()
                page.wait_for_selector(
                    f'tr[data-agent="{cmd["agent"]}"][data-state="{cmd["state"]}"]',
                    timeout=timeout_ms)
                say(step="wait_agent", ms=int((time.monotonic() - t0) * 1000))
            elif do == "upload_prompt":
                page.click('[data-tab="prompts"]')
                sel = f'input[type="file"][aria-label="{cmd["id"]} {cmd["lang"]}"]'
                page.wait_for_selector(sel, timeout=timeout_ms)
                page.evaluate("() => { document.querySelector('#status').textContent = '…'; }")
                page.set_input_files(sel, cmd["file"])
                wait_status_change(page, "…", timeout_ms)
                say(step="upload_prompt", status=status(page),
                    error=page.evaluate("() => document.querySelector('#status').classList.contains('error')"))
            elif do == "record_prompt":
                page.click('[data-tab="prompts"]')
                sel = f'button[data-record="{cmd["id"]}/{cmd["lang"]}"]'
                page.wait_for_selector(sel, timeout=timeout_ms)
                page.click(sel)
                page.wait_for_function(
                    "(s) => document.querySelector(s).textContent.startsWith('Arrêter')",
                    arg=sel, timeout=timeout_ms)
                time.sleep(cmd["seconds"])
                page.evaluate("() => { document.querySelector('#status').textContent = '…'; }")
                page.click(sel)
                wait_status_change(page, "…", timeout_ms)
                say(step="record_prompt", status=status(page),
                    error=page.evaluate("() => document.querySelector('#status').classList.contains('error')"))
            elif do == "storm_upload":
                page.click('[data-tab="storm"]')
                sel = f'input[name="storm-{cmd["lang"]}"]'
                page.wait_for_selector(sel, state="attached", timeout=timeout_ms)
                page.evaluate("() => { document.querySelector('#status').textContent = '…'; }")
                page.set_input_files(sel, cmd["file"])
                wait_status_change(page, "…", timeout_ms)
                say(step="storm_upload", status=status(page),
                    error=page.evaluate("() => document.querySelector('#status').classList.contains('error')"))
            elif do == "storm":
                page.click('[data-tab="storm"]')
                page.evaluate("() => { document.querySelector('#status').textContent = '…'; }")
                page.click('[data-action="storm-on"]' if cmd["on"] else '[data-action="storm-off"]')
                wait_status_change(page, "…", timeout_ms)
                say(step="storm", status=status(page), state=page.inner_text('[data-field="storm-state"]'),
                    error=page.evaluate("() => document.querySelector('#status').classList.contains('error')"))
            elif do == "audit":
                page.click('[data-tab="audit"]')
                page.wait_for_selector('[data-field="audit-rows"] tr', timeout=timeout_ms)
                rows = page.evaluate("""() => [...document.querySelectorAll('[data-field="audit-rows"] tr')]
                    .map((tr) => [...tr.children].map((td) => td.textContent))""")
                say(step="audit", rows=rows)
            else:
                raise RuntimeError(f"unknown command {do}")
        ctx.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the Rust test prints this line when it fails
        say(step="error", error=f"{type(e).__name__}: {e}")
        sys.exit(1)
