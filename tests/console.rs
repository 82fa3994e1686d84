//! The admin and supervisor console, with real peers: the page in headless Chromium
//! (tests/browser/console.py, Playwright), calls from SIPp, the JSON API from curl.
//!
//! An admin edits the plan in the browser: an error is shown at its line and nothing is
//! published (a call still takes the old path); the fix is published (the next call takes the
//! new path); a rollback brings the old path back; the audit log shows who did it. The wallboard
//! shows a caller waiting and an agent's state change as they happen. The API refuses
//! requests without a session or token, a supervisor's publish, a cross-site POST, bad input;
//! five wrong passwords throttle the source.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::baresip::{tone_wav, AgentPhone, Baresip};
use common::*;
use serde_json::{json, Value};

const OPEN: &str = "2027-04-16T10:00";
const DTMF: &str = "/usr/share/sip-tester";
const ADMIN_PW: &str = "neige-2027-admin";
const SUPERVISOR_PW: &str = "neige-2027-superviseur";

fn add_agent(agents: &Path, id: &str, skills: &str) {
    let cfg = agents.with_extension("cfg.toml");
    std::fs::write(
        &cfg,
        format!("[paths]\nagents = \"{}\"\n", agents.display()),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_centrale"))
        .arg("--config")
        .arg(&cfg)
        .args(["agent", "add", id, "--skills", skills])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("pw-{id}-secret\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
}

struct Centre {
    server: Server,
    plan: PathBuf,
    gw: u16,
    _dir: tempfile::TempDir,
}

fn centre() -> Centre {
    centre_with(|_| {})
}

/// A centre whose plan copy `tweak` may edit before the server starts.
fn centre_with(tweak: impl Fn(&Path)) -> Centre {
    centre_opts(tweak, |_, _| {})
}

/// `opts_tweak`: changes to the server's options (with the work directory).
fn centre_opts(tweak: impl Fn(&Path), opts_tweak: impl Fn(&mut ServerOpts, &Path)) -> Centre {
    let dir = tempfile::tempdir().unwrap();
    let gw = port_block(2);
    let plan = plan_with_gateway("quebec", gw, dir.path());
    tweak(&plan);
    let agents = dir.path().join("agents.toml");
    add_agent(&agents, "luc", "permis:3");
    let mut opts = ServerOpts::plan("quebec");
    opts.dialplan = plan.clone();
    opts.clock = Some(OPEN.into());
    opts.agents = Some(agents);
    opts.web = true;
    opts_tweak(&mut opts, dir.path());
    let server = Server::start(opts);
    cli(
        &server,
        &["user", "add", "admin", "--role", "admin"],
        &format!("{ADMIN_PW}\n"),
    );
    cli(
        &server,
        &["user", "add", "sup", "--role", "supervisor"],
        &format!("{SUPERVISOR_PW}\n"),
    );
    Centre {
        server,
        plan,
        gw,
        _dir: dir,
    }
}

impl Centre {
    fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.web_port.unwrap())
    }

    /// Where a call to 811 is sent now (the Contact of the 302).
    fn where_811_goes(&self) -> String {
        let run = Sipp::new("redirected.xml", self.server.addr(), self.server.dir.path())
            .key("service", "811")
            .key("rtp_port", 9)
            .run();
        run.assert_ok();
        let at = run.logs.find("CONTACT sip:").expect("a Contact");
        let rest = &run.logs[at + "CONTACT sip:".len()..];
        rest.split('@').next().unwrap_or("").to_string()
    }
}

/// The console in Chromium: one command in, one JSON step out.
struct Console {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<ChildStdout>,
}

impl Console {
    fn start(url: &str) -> Console {
        Console::start_with(url, &[])
    }

    fn start_with(url: &str, extra: &[&str]) -> Console {
        let mut child = Command::new("timeout")
            .args(["-k", "5", "300", "python3"])
            .arg(root().join("tests/browser/console.py"))
            .args(["--url", url])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with playwright (scripts/test installs it)");
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Console { child, stdin, out }
    }

    fn cmd(&mut self, c: Value) -> Value {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).unwrap_or(0);
            assert!(n > 0, "the console script ended during {c}");
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            assert_ne!(v["step"], "error", "console script failed on {c}: {v}");
            return v;
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"do": "quit"}));
        let _ = self.child.wait();
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle in file");
    text[..at].matches('\n').count() + 1
}

#[test]
fn admin_edits_publishes_and_rolls_back_the_plan_and_watches_the_wallboard() {
    let c = centre();
    let original = std::fs::read_to_string(c.plan.join("plan.toml")).unwrap();
    let rule = "numbers = [\"811\"]\ntarget = \"811\"";
    let bad_line = line_of(&original, rule) + 1;
    assert_eq!(c.where_811_goes(), "811");

    let mut ui = Console::start(&format!("{}/console", c.base()));
    ui.cmd(json!({"do": "signin", "user": "admin", "password": ADMIN_PW}));

    // An edit with an error: shown at its line, in its file; nothing is published.
    ui.cmd(json!({"do": "edit", "file": "plan.toml", "old": rule,
                  "new": "numbers = [\"811\"]\ntarget = \"nulle-part\""}));
    let v = ui.cmd(json!({"do": "validate"}));
    let first = &v["errors"][0];
    assert_eq!(first["file"], "plan.toml", "{v}");
    assert_eq!(first["line"], bad_line, "{v}");
    assert!(
        first["text"].as_str().unwrap().contains("nulle-part"),
        "{v}"
    );
    assert_eq!(
        v["selected_line"], bad_line,
        "the editor shows the line: {v}"
    );
    let p = ui.cmd(json!({"do": "publish", "comment": "essai"}));
    assert_eq!(p["errors"][0]["line"], bad_line, "{p}");
    assert!(p["status"].as_str().unwrap().contains("rien"), "{p}");
    assert_eq!(
        std::fs::read_to_string(c.plan.join("plan.toml")).unwrap(),
        original
    );
    assert_eq!(c.where_811_goes(), "811", "a refused edit changes nothing");

    // Fixed and published: the next call takes the new path.
    ui.cmd(
        json!({"do": "edit", "file": "plan.toml", "old": "target = \"nulle-part\"",
                  "new": "target = \"211\""}),
    );
    let p = ui.cmd(json!({"do": "publish", "comment": "811 vers 211 (essai)"}));
    assert!(p["errors"].as_array().unwrap().is_empty(), "{p}");
    assert!(p["status"].as_str().unwrap().contains("version 2"), "{p}");
    assert_eq!(c.where_811_goes(), "211");
    assert!(std::fs::read_to_string(c.plan.join("plan.toml"))
        .unwrap()
        .contains("target = \"211\""));

    // Version 1 is the plan as found on disk: rolling back to it restores the old path.
    let r = ui.cmd(json!({"do": "rollback", "version": 1}));
    assert!(r["status"].as_str().unwrap().contains("version 3"), "{r}");
    assert_eq!(c.where_811_goes(), "811");
    assert_eq!(
        std::fs::read_to_string(c.plan.join("plan.toml")).unwrap(),
        original
    );

    let audit = ui.cmd(json!({"do": "audit"}));
    let rows = audit["rows"].as_array().unwrap();
    let published: Vec<&Value> = rows
        .iter()
        .filter(|r| r[2] == "plan published" && r[1] == "admin")
        .collect();
    assert_eq!(published.len(), 2, "{audit}");
    assert!(
        published[0][5]
            .as_str()
            .unwrap()
            .contains("rollback to version 1"),
        "{audit}"
    );

    // The wallboard: a caller waiting in the general queue, then an agent's state change.
    let tone = root().join("tests/sipp/pcap/tone_800hz_ulaw.pcap");
    let caller = Sipp::new("call_queue_talk.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", 9)
        .key("pre_ms", 1000)
        .key("pcap", format!("{DTMF}/dtmf_2833_1.pcap"))
        .key("gap_ms", 1500)
        .key("pcap2", format!("{DTMF}/dtmf_2833_0.pcap"))
        .key("talk_at_ms", 15000)
        .key("audio_pcap", tone.display())
        .key("talk_ms", 500)
        .timeout(90)
        .spawn();
    let w = ui.cmd(json!({"do": "wait_queue", "queue": "general", "waiting": 1}));
    eprintln!(
        "wallboard showed the waiting caller {} ms after the page started waiting",
        w["ms"]
    );
    // Luc's softphone registers (an agent is available only with a phone that answers).
    let voice = tone_wav(c.server.dir.path(), 1500);
    let luc = Baresip::start(
        c.server.dir.path(),
        c.server.sip_port,
        AgentPhone {
            user: "luc",
            password: "pw-luc-secret",
            answer: "auto",
            voice: &voice,
        },
    );
    let a = ui.cmd(json!({"do": "agent_action", "agent": "luc", "action": "login"}));
    assert_eq!(a["status"], 202, "{a}");
    let w = ui.cmd(json!({"do": "wait_agent", "agent": "luc", "state": "available"}));
    eprintln!("wallboard showed luc available after {} ms", w["ms"]);
    let a = ui.cmd(json!({"do": "agent_action", "agent": "luc", "action": "pause"}));
    assert_eq!(a["status"], 202, "{a}");
    ui.cmd(json!({"do": "wait_agent", "agent": "luc", "state": "paused"}));
    caller.wait().assert_ok();
    ui.cmd(json!({"do": "wait_queue", "queue": "general", "waiting": 0}));
    luc.stop();
    let _ = c.gw;
}

/// curl: (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-k", "-s", "-S", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Sign in with curl; the cookie jar and the page's CSRF token.
fn signin(c: &Centre, jar: &Path, user: &str, password: &str) -> (u16, String) {
    let origin = format!("Origin: {}", c.base());
    let (code, _) = curl(&[
        "-c",
        jar.to_str().unwrap(),
        "-H",
        &origin,
        "--data-urlencode",
        &format!("username={user}"),
        "--data-urlencode",
        &format!("password={password}"),
        &format!("{}/console/signin", c.base()),
    ]);
    let (_, page) = curl(&[
        "-b",
        jar.to_str().unwrap(),
        &format!("{}/console", c.base()),
    ]);
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("")
        .to_string();
    (code, csrf)
}

#[test]
fn the_api_refuses_strangers_supervisors_forgeries_and_bad_input() {
    let c = centre();
    let base = c.base();
    let admin_token = cli(&c.server, &["user", "token", "admin", "--label", "ci"], "");
    let sup_token = cli(&c.server, &["user", "token", "sup"], "");
    assert_eq!(admin_token.len(), 64);

    // No route answers without a session or a token.
    for (method, path) in [
        ("GET", "/api/me"),
        ("GET", "/api/plan"),
        ("GET", "/api/plan/versions"),
        ("GET", "/api/plan/versions/1"),
        ("GET", "/api/audit"),
        ("GET", "/api/users"),
        ("GET", "/api/wallboard"),
        ("GET", "/api/wallboard/events"),
        ("GET", "/api/status"),
        ("GET", "/api/agents"),
        ("GET", "/api/queues"),
        ("GET", "/metrics"),
        ("POST", "/api/plan/validate"),
        ("POST", "/api/plan/publish"),
        ("POST", "/api/plan/rollback/1"),
        ("POST", "/api/reload"),
        ("POST", "/api/tokens"),
        ("POST", "/api/users"),
        ("DELETE", "/api/users/admin"),
        ("POST", "/api/agents/luc/login"),
        ("GET", "/api/roster"),
        ("POST", "/api/roster"),
        ("DELETE", "/api/roster/luc"),
        ("GET", "/api/report?from=2027-01-01&to=2027-01-02"),
        ("GET", "/api/storm"),
        ("POST", "/api/storm"),
        ("PUT", "/api/storm/audio/fr"),
    ] {
        let (code, body) = curl(&["-X", method, &format!("{base}{path}")]);
        assert_eq!(code, 401, "{method} {path}: {body}");
    }
    let (code, _) = curl(&[
        "-H",
        "Authorization: Bearer 00ff",
        &format!("{base}/api/plan"),
    ]);
    assert_eq!(code, 401, "an unknown token");

    // A token works for scripts and a Prometheus scrape.
    let bearer = format!("Authorization: Bearer {admin_token}");
    let (code, plan) = curl(&["-H", &bearer, &format!("{base}/api/plan")]);
    assert_eq!(code, 200, "{plan}");
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let version = plan["version"].clone();
    let (code, metrics) = curl(&["-H", &bearer, &format!("{base}/metrics")]);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("centrale_queue_waiting{queue=\"general\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("centrale_queue_service_level_target_percent{queue=\"general\"} 80"));
    assert!(
        metrics.contains("centrale_agents{state=\"logged_out\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("centrale_store_dead_letter_total 0"),
        "{metrics}"
    );

    // A supervisor sees but cannot publish (with a token or a session).
    let files = json!({"files": plan["files"], "comment": "x"}).to_string();
    let sup = format!("Authorization: Bearer {sup_token}");
    let (code, _) = curl(&["-H", &sup, &format!("{base}/api/plan")]);
    assert_eq!(code, 200);
    let (code, body) = curl(&[
        "-H",
        &sup,
        "-H",
        "Content-Type: application/json",
        "-d",
        &files,
        &format!("{base}/api/plan/publish"),
    ]);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("admin role"), "{body}");
    let (code, _) = curl(&["-H", &sup, &format!("{base}/api/users")]);
    assert_eq!(code, 403);

    // A signed-in admin's browser, and a forged cross-site POST riding on its cookie.
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let (code, csrf) = signin(&c, &jar, "admin", ADMIN_PW);
    assert_eq!(code, 303);
    assert_eq!(csrf.len(), 64);
    let jar_s = jar.to_str().unwrap();
    let url = format!("{base}/api/plan/publish");
    let (code, body) = curl(&[
        "-b",
        jar_s,
        "-H",
        "Origin: https://evil.example",
        "-H",
        "Content-Type: application/json",
        "-d",
        &files,
        &url,
    ]);
    assert_eq!(code, 403, "no CSRF token, other origin: {body}");
    let (code, _) = curl(&[
        "-b",
        jar_s,
        "-H",
        "Origin: https://evil.example",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        &files,
        &url,
    ]);
    assert_eq!(code, 403, "a stolen CSRF token from another origin");
    let origin = format!("Origin: {base}");
    let (code, _) = curl(&[
        "-b",
        jar_s,
        "-H",
        &origin,
        "-H",
        "Content-Type: application/json",
        "-d",
        &files,
        &url,
    ]);
    assert_eq!(code, 403, "our origin without the CSRF token");
    let (code, body) = curl(&[
        "-b",
        jar_s,
        "-H",
        &origin,
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        &files,
        &url,
    ]);
    assert_eq!(code, 200, "the real page's request: {body}");

    // Bad input: each refused with a reason, the plan untouched.
    let before = std::fs::read_to_string(c.plan.join("menus.toml")).unwrap();
    let served = |c: &Centre| -> Value {
        let (_, p) = curl(&["-H", &bearer, &format!("{}/api/plan", c.base())]);
        serde_json::from_str::<Value>(&p).unwrap()["version"].clone()
    };
    let now_serving = served(&c);
    let bad_utf8 = dir.path().join("bad.json");
    let mut bytes = br#"{"files":[{"name":"menus.toml","text":"[nodes.x]\ntype = \""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x80]);
    bytes.extend_from_slice(br#""\n"}],"comment":"x"}"#);
    std::fs::write(&bad_utf8, &bytes).unwrap();
    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", bad_utf8.display()),
        &url,
    ]);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("UTF-8"), "{body}");
    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"files":[{"name":"../evil.toml","text":"x = 1"}]}"#,
        &url,
    ]);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("named like menus.toml"), "{body}");
    assert!(!c.plan.parent().unwrap().join("evil.toml").exists());
    let (code, body) = curl(&["-H", &bearer, "-d", "not json", &url]);
    assert_eq!(code, 400, "{body}");
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; 3 << 20]).unwrap();
    let (code, _) = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", big.display()),
        &url,
    ]);
    assert_eq!(code, 413, "a body over the limit");
    assert_eq!(
        std::fs::read_to_string(c.plan.join("menus.toml")).unwrap(),
        before
    );
    assert_eq!(served(&c), now_serving);
    let _ = version;

    // Agents: an admin adds, changes and removes one in agents.toml; a supervisor cannot.
    let roster = format!("{base}/api/roster");
    let json_h = "Content-Type: application/json";
    let (code, body) = curl(&[
        "-H",
        &sup,
        "-H",
        json_h,
        "-d",
        r#"{"id": "julie", "skills": "fr:5", "password": "pw-julie-secret-1"}"#,
        &roster,
    ]);
    assert_eq!(code, 403, "{body}");
    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        json_h,
        "-d",
        r#"{"id": "julie", "name": "Julie Roy", "skills": "fr:5,general:3", "password": "pw-julie-secret-1"}"#,
        &roster,
    ]);
    assert_eq!(code, 200, "{body}");
    let agents_toml =
        std::fs::read_to_string(c.plan.parent().unwrap().join("agents.toml")).unwrap();
    assert!(agents_toml.contains("julie"), "{agents_toml}");
    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        json_h,
        "-d",
        r#"{"id": "julie", "skills": "fr:5,general:4"}"#,
        &roster,
    ]);
    assert_eq!(code, 200, "a change without a new password: {body}");
    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        json_h,
        "-d",
        r#"{"id": "nouveau"}"#,
        &roster,
    ]);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("password"), "{body}");
    let (code, list) = curl(&["-H", &sup, &roster]);
    assert_eq!(code, 200);
    assert!(
        list.contains("\"general\":4") && !list.contains("ha1"),
        "{list}"
    );
    let (code, _) = curl(&["-X", "DELETE", "-H", &bearer, &format!("{roster}/julie")]);
    assert_eq!(code, 200);

    // Reports: the figures of `centrale report`, as CSV or a page with its chart.
    let (code, csv) = curl(&[
        "-H",
        &sup,
        &format!("{base}/api/report?from=2027-04-16&to=2027-04-17&by=hour&format=csv"),
    ]);
    assert_eq!(code, 200, "{csv}");
    assert!(csv.lines().next().unwrap_or("").contains("sl_pct"), "{csv}");
    let (code, html) = curl(&[
        "-H",
        &sup,
        &format!("{base}/api/report?from=2027-04-16&to=2027-04-17&by=hour"),
    ]);
    assert_eq!(code, 200);
    assert!(html.contains("<svg"), "the chart");
    let (code, body) = curl(&[
        "-H",
        &sup,
        &format!("{base}/api/report?from=2027-04-16&to=2027-04-17&by=year"),
    ]);
    assert_eq!(code, 400, "{body}");

    // The audit log has the admin's publish, by session.
    let (_, audit) = curl(&["-H", &bearer, &format!("{base}/api/audit")]);
    assert!(
        audit.contains("\"who\":\"admin\"") && audit.contains("plan published"),
        "{audit}"
    );
    assert!(
        audit.contains("agent added") && audit.contains("agent removed"),
        "{audit}"
    );

    // Five wrong passwords: the source is throttled, even for the right one.
    let jar2 = dir.path().join("jar2");
    for _ in 0..5 {
        let (code, _) = signin(&c, &jar2, "sup", "pas-le-bon-mot-de-passe");
        assert_eq!(code, 303);
    }
    let (code, _) = signin(&c, &jar2, "sup", SUPERVISOR_PW);
    assert_eq!(code, 429, "throttled");
    let log = c.server.log_text();
    assert!(!log.contains(ADMIN_PW) && !log.contains(&admin_token) && !log.contains(&csrf));
}

/// `text` spoken in French by espeak-ng, as `dir/name.wav` (22.05 kHz).
fn spoken(dir: &Path, name: &str, text: &str) -> PathBuf {
    let wav = dir.join(format!("{name}.wav"));
    let status = Command::new("espeak-ng")
        .args(["-v", "fr", "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng");
    assert!(status.success());
    wav
}

fn sox(args: &[&str]) {
    let st = Command::new("sox").args(args).status().expect("sox");
    assert!(st.success(), "sox {args:?}");
}

/// What a caller hears: pressed 1 (French) then 0 (general), listened, hung up.
fn storm_call(c: &Centre) -> Vec<Packet> {
    let sink = RtpSink::start();
    Sipp::new(
        "call_two_digits_hangup.xml",
        c.server.addr(),
        c.server.dir.path(),
    )
    .key("rtp_port", sink.port)
    .key("pre_ms", 1000)
    .key("pcap", format!("{DTMF}/dtmf_2833_1.pcap"))
    .key("gap_ms", 1500)
    .key("pcap2", format!("{DTMF}/dtmf_2833_0.pcap"))
    .key("talk_ms", 7000)
    .run()
    .assert_ok();
    sink.finish()
}

#[test]
fn a_storm_message_is_checked_switched_on_heard_and_switched_off() {
    use centrale::media::g711::Law;
    use centrale::media::prompt::{Lang, Prompt};
    let c = centre();
    let base = c.base();
    let token = cli(&c.server, &["user", "token", "sup"], "");
    let bearer = format!("Authorization: Bearer {token}");
    let dir = tempfile::tempdir().unwrap();
    let put = |file: &Path| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            &bearer,
            "-H",
            "Content-Type: audio/wav",
            "--data-binary",
            &format!("@{}", file.display()),
            &format!("{base}/api/storm/audio/fr"),
        ])
    };

    // Bad recordings are refused with the reason; nothing is in force.
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "collectes retardées aujourd'hui").unwrap();
    let (code, body) = put(&text);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("not an audio file"), "{body}");
    let silent = dir.path().join("silent.wav");
    sox(&[
        "-n",
        "-r",
        "16000",
        "-c",
        "1",
        "-b",
        "16",
        silent.to_str().unwrap(),
        "trim",
        "0",
        "2",
    ]);
    let (code, body) = put(&silent);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("silent"), "{body}");
    let huge = dir.path().join("huge.wav");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    let (code, _) = put(&huge);
    assert_eq!(code, 413, "a 200 MB upload");
    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"on": true}"#,
        &format!("{base}/api/storm"),
    ]);
    assert_eq!(code, 422, "nothing recorded yet: {body}");

    // A 2 s sweep recorded at 16 kHz (a supervisor's WAV at any rate).
    let wav = dir.path().join("tempete.wav");
    sox(&[
        "-n",
        "-r",
        "16000",
        "-c",
        "1",
        "-b",
        "16",
        wav.to_str().unwrap(),
        "synth",
        "2",
        "sine",
        "500-1800",
        "vol",
        "0.5",
    ]);
    let (code, body) = put(&wav);
    assert_eq!(code, 200, "{body}");
    let expected = Prompt::from_pcm(
        "storm",
        Lang::Fr,
        "",
        centrale::media::prompt::decode_file(&wav).unwrap(),
    );

    // Off: callers do not hear it.
    let quiet = storm_call(&c);
    let miss = find_prompt(&quiet, &expected, Law::Ulaw).map_or(0.0, |h| h.correlation);
    assert!(miss < 0.6, "heard while off: {miss}");

    let (code, body) = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"on": true, "queues": []}"#,
        &format!("{base}/api/storm"),
    ]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"active\":true"), "{body}");
    let heard = storm_call(&c);
    let h = find_prompt(&heard, &expected, Law::Ulaw).expect("the storm message");
    assert!(h.correlation > 0.9, "correlation {}", h.correlation);

    // Off with one click: the next caller does not hear it.
    let (code, _) = curl(&[
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"on": false}"#,
        &format!("{base}/api/storm"),
    ]);
    assert_eq!(code, 200);
    let after = storm_call(&c);
    let miss = find_prompt(&after, &expected, Law::Ulaw).map_or(0.0, |h| h.correlation);
    assert!(miss < 0.6, "heard after switching off: {miss}");

    // The recording can be listened to; the call log counts who heard it; all audited.
    let (code, _) = curl(&[
        "-H",
        &bearer,
        "-o",
        "/dev/null",
        &format!("{base}/api/storm/audio/fr"),
    ]);
    assert_eq!(code, 200);
    let rows = wait_calls(&c.server.db_url, 3);
    let heard_it: Vec<_> = rows
        .iter()
        .filter(|r| {
            db_events(&c.server.db_url, &r.call_id).iter().any(|e| {
                matches!(&e.kind, centrale::event::EventKind::PromptPlayed { prompt, .. }
                        if prompt == "storm")
            })
        })
        .collect();
    assert_eq!(heard_it.len(), 1, "one caller heard it");
    // After the message the call went on as usual: the main menu took the type-ahead 0.
    let kinds: Vec<String> = db_events(&c.server.db_url, &heard_it[0].call_id)
        .iter()
        .map(|e| format!("{:?}", e.kind))
        .collect();
    let storm_at = kinds.iter().position(|k| k.contains("\"storm\"")).unwrap();
    let menu_at = kinds
        .iter()
        .position(|k| k.contains("MenuChoice { node: \"menu_principal\", digit: \"0\""))
        .unwrap_or_else(|| panic!("{kinds:?}"));
    assert!(storm_at < menu_at, "{kinds:?}");
    // The console reports it: one caller heard it and hung up before reaching an agent.
    let (_, storm_now) = curl(&["-H", &bearer, &format!("{base}/api/storm")]);
    let v: Value = serde_json::from_str(&storm_now).unwrap();
    assert_eq!(v["last_24h"]["heard"], 1, "{storm_now}");
    assert_eq!(v["last_24h"]["hung_up_before_an_agent"], 1, "{storm_now}");
    let (_, audit) = curl(&["-H", &bearer, &format!("{base}/api/audit")]);
    assert!(
        audit.contains("storm message recorded") && audit.contains("on for every caller"),
        "{audit}"
    );
}

#[test]
fn a_supervisor_sees_and_cancels_a_waiting_callback() {
    // Announce every 4 s instead of 45 so the callback offer comes quickly.
    let c = centre_with(|plan| {
        let q = std::fs::read_to_string(plan.join("queues.toml")).unwrap();
        std::fs::write(
            plan.join("queues.toml"),
            q.replace("announce_every = 45", "announce_every = 4"),
        )
        .unwrap();
    });
    let base = c.base();
    let token = cli(&c.server, &["user", "token", "sup"], "");
    let bearer = format!("Authorization: Bearer {token}");
    // Nobody staffed: the caller waits, hears the offer, presses 1.
    Sipp::new(
        "call_three_digits.xml",
        c.server.addr(),
        c.server.dir.path(),
    )
    .key("rtp_port", 9)
    .key("pre_ms", 1000)
    .key("pcap", format!("{DTMF}/dtmf_2833_1.pcap"))
    .key("gap_ms", 1500)
    .key("pcap2", format!("{DTMF}/dtmf_2833_0.pcap"))
    .key("gap2_ms", 14000)
    .key("pcap3", format!("{DTMF}/dtmf_2833_1.pcap"))
    .timeout(90)
    .run()
    .assert_ok();
    let (code, body) = curl(&["-H", &bearer, &format!("{base}/api/callbacks")]);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let cbs = v["callbacks"].as_array().unwrap();
    assert_eq!(cbs.len(), 1, "{body}");
    assert_eq!(cbs[0]["number"], "5145550100", "{body}");
    assert_eq!(cbs[0]["queue"], "general", "{body}");
    assert_eq!(cbs[0]["position"], 1, "{body}");
    let booked_by = cbs[0]["booked_by"].as_str().unwrap().to_string();
    assert_eq!(
        cbs[0]["tracking"].as_str().unwrap(),
        centrale::call::tracking::number(&booked_by),
        "{body}"
    );
    let call = cbs[0]["call"].as_u64().unwrap();
    // Cancelling is a change: a supervisor's token may, nobody else.
    let (code, _) = curl(&["-X", "DELETE", &format!("{base}/api/callbacks/{call}")]);
    assert_eq!(code, 401);
    let (code, body) = curl(&[
        "-X",
        "DELETE",
        "-H",
        &bearer,
        &format!("{base}/api/callbacks/{call}"),
    ]);
    assert_eq!(code, 200, "{body}");
    let (_, body) = curl(&["-H", &bearer, &format!("{base}/api/callbacks")]);
    assert!(body.contains("\"callbacks\":[]"), "{body}");
    let (code, _) = curl(&[
        "-X",
        "DELETE",
        "-H",
        &bearer,
        &format!("{base}/api/callbacks/{call}"),
    ]);
    assert_eq!(code, 404, "already cancelled");
    // The cancel is in the log of the call that booked it (so a restart does not bring it back).
    let rows = wait_calls(&c.server.db_url, 1);
    let booked = rows
        .iter()
        .find(|r| r.outcome == "callback")
        .expect("the booking call");
    let mut names = Vec::new();
    for _ in 0..50 {
        names = event_names(&c.server.db_url, &booked.call_id);
        if names.contains(&"callback_cancelled") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(names.contains(&"callback_cancelled"), "{names:?}");
    let (_, audit) = curl(&["-H", &bearer, &format!("{base}/api/audit")]);
    assert!(audit.contains("callback cancelled"), "{audit}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// An admin records a new French language menu (a WAV at 16 kHz) through the API: the next
/// call hears it at once, with no restart, while a call already in progress keeps hearing the
/// recording it started with (its re-prompt after the upload is the old one). Going back to the
/// replaced recording is one request. Bad uploads are refused with the reason; supervisors may
/// listen but not change.
#[test]
fn a_new_recording_is_heard_by_the_next_call_and_a_call_in_progress_keeps_the_old_one() {
    let c = centre_opts(
        |_| {},
        |opts, dir| {
            let copy = dir.join("prompts");
            copy_dir(&root().join("prompts"), &copy);
            opts.prompts = Some(copy);
        },
    );
    let base = c.base();
    let admin = format!(
        "Authorization: Bearer {}",
        cli(&c.server, &["user", "token", "admin"], "").trim()
    );
    let sup = format!(
        "Authorization: Bearer {}",
        cli(&c.server, &["user", "token", "sup"], "").trim()
    );
    let dir = tempfile::tempdir().unwrap();
    let tone = dir.path().join("menu.wav");
    sox(&[
        "-n",
        "-r",
        "16000",
        "-c",
        "1",
        "-b",
        "16",
        tone.to_str().unwrap(),
        "synth",
        "4",
        "sine",
        "1000",
        "vol",
        "0.5",
    ]);
    let url = format!("{base}/api/prompts/choose_language/fr");
    let put = |auth: &str, url: &str, file: &Path| {
        curl(&[
            "-X",
            "PUT",
            "-H",
            auth,
            "-H",
            "Content-Type: audio/wav",
            "--data-binary",
            &format!("@{}", file.display()),
            url,
        ])
    };
    // Call A starts and listens in silence (the language menu plays, then is re-prompted).
    let sink_a = RtpSink::start();
    let call_a = Sipp::new("call_hangup.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink_a.port)
        .key("pre_ms", 24_000)
        .timeout(60)
        .spawn();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Refusals first: a supervisor, an unknown prompt, a silent file.
    let (code, _) = put(&sup, &url, &tone);
    assert_eq!(code, 403);
    let (code, body) = put(
        &admin,
        &format!("{base}/api/prompts/no_such_prompt/fr"),
        &tone,
    );
    assert_eq!(code, 404, "{body}");
    let silent = dir.path().join("silent.wav");
    sox(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        silent.to_str().unwrap(),
        "trim",
        "0",
        "2",
    ]);
    let (code, body) = put(&admin, &url, &silent);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("silent"), "{body}");
    // The new recording.
    let (code, body) = put(&admin, &url, &tone);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], 2, "{body}");
    // Call B, after the upload, hears it.
    let sink_b = RtpSink::start();
    Sipp::new("call_hangup.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink_b.port)
        .key("pre_ms", 5_000)
        .run()
        .assert_ok();
    let heard_b = decode(&sink_b.finish(), centrale::media::g711::Law::Ulaw);
    assert!(hz_present(&heard_b, 1000.0), "call B hears the new menu");
    // Call A never did, though it was re-prompted after the upload.
    call_a.wait().assert_ok();
    let packets_a = sink_a.finish();
    assert!(
        packets_a.len() > 20 * 50,
        "call A listened 20 s ({})",
        packets_a.len()
    );
    let heard_a = decode(&packets_a, centrale::media::g711::Law::Ulaw);
    assert!(!hz_present(&heard_a, 1000.0), "call A keeps its recordings");
    assert_heard_whole(
        &packets_a,
        "choose_language",
        centrale::media::prompt::Lang::Fr,
    );
    // Listed with its kept version; a supervisor may listen; then back to the old recording.
    let (code, body) = curl(&["-H", &sup, &format!("{base}/api/prompts")]);
    assert_eq!(code, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    let menu = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "choose_language")
        .unwrap()
        .clone();
    assert_eq!(
        menu["fr"]["versions"].as_array().unwrap().len(),
        1,
        "{menu}"
    );
    assert!(menu["fr"]["seconds"].as_f64().unwrap() > 3.9, "{menu}");
    let (code, _) = curl(&["-H", &sup, "-o", "/dev/null", &url]);
    assert_eq!(code, 200);
    let (code, body) = curl(&["-X", "POST", "-H", &admin, &format!("{url}/rollback")]);
    assert_eq!(code, 200, "{body}");
    let sink_c = RtpSink::start();
    Sipp::new("call_hangup.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink_c.port)
        .key("pre_ms", 5_000)
        .run()
        .assert_ok();
    let heard_c = decode(&sink_c.finish(), centrale::media::g711::Law::Ulaw);
    assert!(!hz_present(&heard_c, 1000.0), "rolled back");
    // A supervisor records the day's INFO-déneigement (an information line's message).
    let info = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "snow_info")
        .unwrap()
        .clone();
    assert_eq!(info["info_line"], true, "{info}");
    let (code, body) = put(&sup, &format!("{base}/api/prompts/snow_info/fr"), &tone);
    assert_eq!(code, 200, "{body}");
    // Audited.
    let (_, audit) = curl(&["-H", &admin, &format!("{base}/api/audit")]);
    assert!(
        audit.contains("prompt recorded") && audit.contains("prompt rolled back"),
        "{audit}"
    );
}

/// In Chromium, an admin replaces the French language menu twice from the prompts panel: with
/// a spoken WAV file at 22.05 kHz (chosen in the page's file input) — the next call hears it,
/// correlated against that file — then with a recording made in the page with the microphone
/// (Chromium's fake microphone plays a 1500 Hz tone) — the next call hears the tone and no
/// longer the speech. A call that started before both keeps its old menu.
#[test]
fn a_greeting_chosen_in_the_page_and_one_recorded_with_the_microphone_are_heard() {
    let c = centre_opts(
        |_| {},
        |opts, dir| {
            let copy = dir.join("prompts");
            copy_dir(&root().join("prompts"), &copy);
            opts.prompts = Some(copy);
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let speech = spoken(
        dir.path(),
        "greeting",
        "Bonjour, vous êtes bien au trois cent onze de la ville. Pour le français, faites le un.",
    );
    let voice = dir.path().join("mic.wav");
    sox(&[
        "-n",
        "-r",
        "48000",
        "-c",
        "1",
        "-b",
        "16",
        voice.to_str().unwrap(),
        "synth",
        "60",
        "sine",
        "1500",
        "gain",
        "-6",
    ]);
    // A call in progress before any change.
    let sink_a = RtpSink::start();
    let call_a = Sipp::new("call_hangup.xml", c.server.addr(), c.server.dir.path())
        .key("rtp_port", sink_a.port)
        .key("pre_ms", 30_000)
        .timeout(60)
        .spawn();
    let mut ui = Console::start_with(
        &format!("{}/console", c.base()),
        &["--voice", voice.to_str().unwrap()],
    );
    ui.cmd(json!({"do": "signin", "user": "admin", "password": ADMIN_PW}));
    let up = ui.cmd(
        json!({"do": "upload_prompt", "id": "choose_language", "lang": "fr",
                          "file": speech.to_str().unwrap()}),
    );
    assert_eq!(up["error"], false, "{up}");
    assert!(
        up["status"].as_str().unwrap_or("").contains("remplacé"),
        "{up}"
    );
    let reference = centrale::media::prompt::Prompt::from_pcm(
        "greeting",
        centrale::media::prompt::Lang::Fr,
        "",
        centrale::media::prompt::decode_file(&speech).unwrap(),
    );
    let listen = || {
        let sink = RtpSink::start();
        Sipp::new("call_hangup.xml", c.server.addr(), c.server.dir.path())
            .key("rtp_port", sink.port)
            .key("pre_ms", 8_000)
            .run()
            .assert_ok();
        sink.finish()
    };
    let heard = listen();
    let found = find_prompt(&heard, &reference, centrale::media::g711::Law::Ulaw)
        .expect("the uploaded greeting is heard");
    assert!(found.correlation > 0.9, "{}", found.correlation);
    let rec = ui.cmd(
        json!({"do": "record_prompt", "id": "choose_language", "lang": "fr",
                           "seconds": 3}),
    );
    assert_eq!(rec["error"], false, "{rec}");
    assert!(
        rec["status"].as_str().unwrap_or("").contains("remplacé"),
        "{rec}"
    );
    let heard = listen();
    let pcm = decode(&heard, centrale::media::g711::Law::Ulaw);
    assert!(
        hz_present(&pcm, 1500.0),
        "the microphone's recording is heard"
    );
    assert!(
        find_prompt(&heard, &reference, centrale::media::g711::Law::Ulaw)
            .is_none_or(|f| f.correlation < 0.5),
        "the spoken greeting is replaced"
    );
    // The recording is about as long as the time recorded.
    let (code, body) = curl(&[
        "-H",
        &format!(
            "Authorization: Bearer {}",
            cli(&c.server, &["user", "token", "admin"], "").trim()
        ),
        &format!("{}/api/prompts", c.base()),
    ]);
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let menu = list["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "choose_language")
        .unwrap()
        .clone();
    let secs = menu["fr"]["seconds"].as_f64().unwrap_or(0.0);
    assert!((2.0..6.0).contains(&secs), "{menu}");
    assert_eq!(
        menu["fr"]["versions"].as_array().map(Vec::len),
        Some(2),
        "{menu}"
    );
    // The call that began first kept the shipped menu throughout.
    call_a.wait().assert_ok();
    let packets_a = sink_a.finish();
    let pcm_a = decode(&packets_a, centrale::media::g711::Law::Ulaw);
    assert!(!hz_present(&pcm_a, 1500.0), "call A keeps its recordings");
    assert!(
        find_prompt(&packets_a, &reference, centrale::media::g711::Law::Ulaw)
            .is_none_or(|f| f.correlation < 0.5)
    );
    assert_heard_whole(
        &packets_a,
        "choose_language",
        centrale::media::prompt::Lang::Fr,
    );
}

/// In Chromium, at 6 a.m. on a storm day: a supervisor records "collections are delayed" in
/// the storm panel (a spoken French WAV chosen in the page) and switches it on for every
/// caller with one click; the next caller hears it after choosing French (correlated against
/// the file); one click switches it off and the next caller does not hear it.
#[test]
fn a_supervisor_switches_a_storm_message_on_and_off_in_the_console() {
    use centrale::media::g711::Law;
    use centrale::media::prompt::{decode_file, Lang, Prompt};
    let c = centre();
    let dir = tempfile::tempdir().unwrap();
    let speech = spoken(
        dir.path(),
        "tempete",
        "En raison de la tempête, les collectes sont retardées aujourd'hui.",
    );
    let reference = Prompt::from_pcm("storm", Lang::Fr, "", decode_file(&speech).unwrap());
    let mut ui = Console::start(&format!("{}/console", c.base()));
    ui.cmd(json!({"do": "signin", "user": "sup", "password": SUPERVISOR_PW}));
    let up = ui.cmd(json!({"do": "storm_upload", "lang": "fr", "file": speech.to_str().unwrap()}));
    assert_eq!(up["error"], false, "{up}");
    let on = ui.cmd(json!({"do": "storm", "on": true}));
    assert_eq!(on["error"], false, "{on}");
    let heard = find_prompt(&storm_call(&c), &reference, Law::Ulaw).expect("the storm message");
    assert!(heard.correlation > 0.9, "{}", heard.correlation);
    let off = ui.cmd(json!({"do": "storm", "on": false}));
    assert_eq!(off["error"], false, "{off}");
    assert!(
        find_prompt(&storm_call(&c), &reference, Law::Ulaw).is_none_or(|h| h.correlation < 0.5),
        "switched off: not heard"
    );
    let audit = ui.cmd(json!({"do": "audit"}));
    let rows = audit["rows"].to_string();
    assert!(rows.contains("sup"), "{rows}");
}
