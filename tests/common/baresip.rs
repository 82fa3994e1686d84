//! A baresip softphone as an agent: registers with digest auth, answers automatically (or
//! not), plays a tone file as its voice, records what it hears, and is driven through its
//! ctrl_tcp JSON interface (dial, hang up; events CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::port_block;

pub struct Baresip {
    pub name: String,
    pub dir: PathBuf,
    /// The RTP ports it uses (first, last).
    pub rtp_ports: (u16, u16),
    child: Child,
    /// One connection for commands and events (baresip sends events to its latest client).
    ctrl: Mutex<TcpStream>,
    events: Arc<Mutex<Vec<serde_json::Value>>>,
}

pub struct AgentPhone<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// "auto" answers at once; "manual" lets it ring.
    pub answer: &'a str,
    /// Its voice: a WAV the phone sends while in a call.
    pub voice: &'a Path,
}

impl Baresip {
    pub fn start(root: &Path, server_port: u16, phone: AgentPhone<'_>) -> Baresip {
        Baresip::start_on(
            root,
            &format!("127.0.0.1:{server_port};transport=udp"),
            "",
            phone,
        )
    }

    /// Registered over TLS to `tls_port`, trusting the server's certificate `cafile`; with
    /// `srtp`, its media must be SRTP (`mediaenc=srtp-mand`, SDES keys).
    pub fn start_tls(
        root: &Path,
        tls_port: u16,
        cafile: &Path,
        srtp: bool,
        phone: AgentPhone<'_>,
    ) -> Baresip {
        let (module, enc) = if srtp {
            ("module srtp.so\n", ">;mediaenc=srtp-mand")
        } else {
            ("", ">")
        };
        Baresip::start_on(
            root,
            &format!("127.0.0.1:{tls_port};transport=tls{enc}"),
            &format!("sip_cafile {}\n{module}", cafile.display()),
            phone,
        )
    }

    /// `server`: the account's host, port and transport parameter; `extra`: config lines.
    fn start_on(root: &Path, server: &str, extra: &str, phone: AgentPhone<'_>) -> Baresip {
        let dir = root.join(format!("baresip-{}", phone.user));
        std::fs::create_dir_all(&dir).unwrap();
        // sip_listen also binds PORT+1 for TLS: take a block of our own.
        let ports = port_block(8);
        let (sip, ctrl, rtp) = (ports, ports + 3, ports + 4);
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
             module sndfile.so\nmodule account.so\nmodule menu.so\nmodule ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl}\naudio_source aufile,{voice}\n\
             audio_player aufile,{heard}\nsnd_path {dir}\nrtp_ports {rtp}-{}\n\
             audio_buffer 20-160\n{extra}",
            rtp + 3,
            voice = phone.voice.display(),
            heard = dir.join("heard.wav").display(),
            dir = dir.display(),
        );
        // Media encryption modules must be loaded before the accounts that name them.
        let config = if config.contains("module srtp.so\n") {
            config
                .replace("module srtp.so\n", "")
                .replace("module account.so\n", "module srtp.so\nmodule account.so\n")
        } else {
            config
        };
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!(
                "<sip:{u}@{server}{close};auth_user={u};auth_pass={p};\
                 regint=60;answermode={a};audio_codecs=pcmu,pcma\n",
                u = phone.user,
                close = if server.contains('>') { "" } else { ">" },
                p = phone.password,
                a = phone.answer
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("baresip (apt-get install baresip)");
        let events = Arc::new(Mutex::new(Vec::new()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", ctrl)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("baresip ctrl_tcp: {e}"),
            }
        };
        // Collect events in the background on the same connection we send commands on.
        let reader = stream.try_clone().unwrap();
        let ev = events.clone();
        std::thread::spawn(move || read_netstrings(reader, ev));
        Baresip {
            name: phone.user.to_string(),
            rtp_ports: (rtp, rtp + 3),
            dir,
            child,
            ctrl: Mutex::new(stream),
            events,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    fn command(&self, command: &str, params: &str) {
        let body =
            serde_json::json!({"command": command, "params": params, "token": "t"}).to_string();
        self.ctrl
            .lock()
            .unwrap()
            .write_all(format!("{}:{},", body.len(), body).as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }

    pub fn dial(&self, uri: &str) {
        self.command("dial", uri);
    }

    pub fn hangup(&self) {
        self.command("hangup", "");
    }

    /// Blind transfer of the current call (REFER).
    pub fn transfer(&self, uri: &str) {
        self.command("transfer", uri);
    }

    /// Types of the events about calls to this phone (not the ones it dialled), in order.
    pub fn event_types(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.get("direction").and_then(|d| d.as_str()) != Some("outgoing"))
            .filter_map(|e| e.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .collect()
    }

    pub fn wait_event(&self, kind: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.event_types().iter().any(|t| t == kind) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn count(&self, kind: &str) -> usize {
        self.event_types().iter().filter(|t| *t == kind).count()
    }

    /// What the phone heard in its calls (the sndfile module's decoded dumps), as PCM.
    pub fn heard(&self) -> Vec<i16> {
        let mut out = Vec::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        files.sort();
        for f in files {
            if let Ok(pcm) = centrale::media::prompt::decode_file(&f) {
                out.extend(pcm);
            }
        }
        out
    }

    /// Quit (before the server: it would otherwise keep un-registering).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_netstrings(mut s: TcpStream, events: Arc<Mutex<Vec<serde_json::Value>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        // netstring: <len>:<payload>,
        while let Some(colon) = buf.iter().position(|&b| b == b':') {
            let Ok(len) = std::str::from_utf8(&buf[..colon])
                .unwrap_or("")
                .parse::<usize>()
            else {
                buf.clear();
                break;
            };
            if buf.len() < colon + 1 + len + 1 {
                break;
            }
            if let Ok(v) =
                serde_json::from_slice::<serde_json::Value>(&buf[colon + 1..colon + 1 + len])
            {
                events.lock().unwrap().push(v);
            }
            buf.drain(..colon + 1 + len + 1);
        }
    }
}

/// A tone file to use as a phone's voice (long: aufile hangs up at the end of its file).
pub fn tone_wav(dir: &Path, hz: u32) -> PathBuf {
    let path = dir.join(format!("tone{hz}.wav"));
    let status = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&path)
        .args(["synth", "600", "sine", &hz.to_string(), "gain", "-12"])
        .status()
        .expect("sox (apt-get install sox)");
    assert!(status.success());
    path
}
