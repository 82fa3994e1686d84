//! dnsmasq as a test's DNS server: on 127.0.0.1 at a port of its own, serving only the records
//! the test gives (`--srv-host`, `--naptr-record`, `--host-record`), stopped when dropped.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::port_block;

pub struct Dnsmasq {
    child: Child,
    pub addr: SocketAddr,
    /// Its log (the queries it answered).
    pub log: PathBuf,
}

impl Dnsmasq {
    /// Start dnsmasq with `records` (its own options). None when dnsmasq is not installed
    /// (`scripts/test` installs it: Debian's `dnsmasq-base`).
    pub fn start(records: &[String]) -> Option<Dnsmasq> {
        let bin = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let port = port_block(1);
        let log = std::env::temp_dir().join(format!("centrale-dnsmasq-{port}.log"));
        let mut cmd = Command::new(bin);
        cmd.args([
            "--keep-in-foreground",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--local-ttl=60",
            "--log-facility=-",
            "--log-queries",
        ])
        .args(records)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("dnsmasq log file"));
        // As root it would switch to `nobody`, which may not exist in a container.
        // SAFETY: geteuid(2) only reads this process's user id.
        if unsafe { libc::geteuid() } == 0 {
            cmd.arg("--user=root");
        }
        let mut child = cmd.spawn().expect("start dnsmasq");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Ready once it answers something.
        let probe = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a timeout");
        let query = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x04test\x00\x00\x01\x00\x01";
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 512];
        loop {
            let _ = probe.send_to(query, addr);
            if probe.recv_from(&mut buf).is_ok() {
                return Some(Dnsmasq { child, addr, log });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("dnsmasq exited ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "dnsmasq did not answer in 10 s");
        }
    }
}

impl Dnsmasq {
    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
