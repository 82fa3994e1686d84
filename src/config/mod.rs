//! `centrale.toml`: listen addresses, RTP port range, where prompts, dial plans, agents and the
//! database live, and the emergency path. Every setting has a default, so `centrale serve`
//! runs with no file at all.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::media::engine::SymmetricRtp;

pub mod secret;
pub mod trunk;
pub use crate::media::srtp::SrtpPolicy;
pub use secret::{Secret, SecretError};
pub use trunk::TrunkConfig;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub paths: Paths,
    pub emergency: EmergencyConfig,
    pub limits: Limits,
    pub database: DatabaseConfig,
    pub admin: AdminConfig,
    pub acd: AcdConfig,
    pub web: WebConfig,
    pub tls: TlsConfig,
    pub callbacks: CallbackConfig,
    /// Carrier trunks (`[[trunk]]`), in order of preference.
    #[serde(rename = "trunk")]
    pub trunks: Vec<TrunkConfig>,
}

/// The HTTPS listener: agent desktop (and console, JSON API).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Empty disables it.
    pub listen: Option<SocketAddr>,
    /// Sessions last this long from sign-in (fractions allowed; at least 3 seconds).
    pub session_minutes: f64,
    /// Other origins allowed to call in (e.g. `https://311.ville.example` behind a proxy);
    /// the listener's own address always is.
    pub origins: Vec<String>,
    /// Reasons an agent may pause for (shown in the desktop).
    pub pause_reasons: Vec<String>,
}

/// Who the city may be made to call back (toll-fraud and harassment guards).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackConfig {
    /// Area codes a callback may be dialled to (empty: any North-American number that is not
    /// premium, N11 or otherwise special). Québec City: `["418", "581", "367"]`.
    pub area_codes: Vec<String>,
    /// Callbacks booked for one number in 24 hours, at most.
    pub per_number_per_day: u32,
    /// Calls placed for one callback before it is given up (the citizen did not answer).
    pub attempts: u32,
    /// Seconds between two attempts.
    pub retry_after_s: u64,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            area_codes: Vec::new(),
            per_number_per_day: 3,
            attempts: 3,
            retry_after_s: 600,
        }
    }
}

/// The certificate and key of the HTTPS listener and of SIP over TLS (PEM). When neither file
/// exists, a self-signed pair is generated there at first start and reused afterwards.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Extra names for a generated certificate (the listen and advertised addresses and
    /// `localhost` are always in it).
    pub names: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8443))),
            session_minutes: 600.0,
            origins: Vec::new(),
            pause_reasons: vec![
                "break".into(),
                "lunch".into(),
                "training".into(),
                "meeting".into(),
                "email".into(),
            ],
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: "tls/cert.pem".into(),
            key: "tls/key.pem".into(),
            names: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    /// SIP over TLS listeners (the certificate of `[tls]`, self-signed at first start when none
    /// is configured). Phones registered over TLS are called on their connection.
    pub tls: Vec<SocketAddr>,
    /// SRTP (SDES keys, RFC 4568) toward phones registered over TLS: `mandatory` (RTP/SAVP;
    /// a phone that answers in clear is not called), `optional` (keys offered in RTP/AVP) or
    /// `off`. Keys never travel over a clear transport; SRTP offered to us over TLS is
    /// always accepted.
    pub srtp: SrtpPolicy,
    /// Session timers (RFC 4028): the shortest interval we run, seconds. Callers that support
    /// timers refresh the session; one that stops is ended and counted ("session-expired").
    pub min_se: u32,
    /// Address to put in Via/Contact/SDP when it differs from the bound one (behind NAT).
    pub advertise: Option<IpAddr>,
    /// RFC 3261 T1 in milliseconds (tests shorten it).
    pub t1_ms: u64,
    /// Digest realm for agent registration.
    pub realm: String,
    /// Ring (180) this long before answering, milliseconds (0: answer at once).
    pub answer_delay_ms: u64,
    /// Where calls we place to citizens go (callbacks): `{number}` is replaced.
    pub outbound: String,
    /// Digest algorithms offered to registering phones, in order of preference. Only MD5 by
    /// default: several softphones (baresip 1.0 as shipped in Debian 12, older desk phones)
    /// refuse a registrar whose challenges name any algorithm they do not know. SHA-256
    /// (RFC 7616) is fully supported: set `["sha-256", "md5"]` once every phone handles it.
    pub digest_algorithms: Vec<crate::sip::digest::Algorithm>,
    /// DNS servers (`IP:port`) asked for the NAPTR, SRV and A/AAAA records of a SIP next hop
    /// named by its domain (a trunk's `address`, a plan target). Empty: the `nameserver`
    /// lines of /etc/resolv.conf.
    pub dns_servers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address RTP sockets bind to.
    pub ip: IpAddr,
    pub rtp_min: u16,
    pub rtp_max: u16,
    /// Media shard threads (0 = one per core).
    pub threads: usize,
    /// Pin each shard to a CPU of its own (when there are enough): a shard that shares a core
    /// with the other shard starts its slots late.
    pub pin_threads: bool,
    /// Run shards in the real-time class (SCHED_RR) while they have room, when the kernel allows
    /// it (root, CAP_SYS_NICE or an RLIMIT_RTPRIO); otherwise at nice −5 under the process.
    pub realtime: bool,
    pub symmetric_rtp: SymmetricRtp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    pub prompts: PathBuf,
    /// The dial plan directory served (one plan, possibly split over several files).
    pub dialplan: PathBuf,
    pub agents: PathBuf,
    /// Voice messages left by callers.
    pub recordings: PathBuf,
    /// Spool for call events while the database is unreachable.
    pub journal: PathBuf,
}

/// The path that sends a caller to 911. It lives here, outside the dial plan, so that no plan
/// edit (or a plan that fails to load) can break it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmergencyConfig {
    /// Called numbers that go straight to `uri` (separators ignored).
    pub numbers: Vec<String>,
    pub uri: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// New calls beyond this get 503 + Retry-After.
    pub max_calls: usize,
    /// Seconds suggested in Retry-After when shedding.
    pub retry_after: u32,
    /// Longest call (a stuck call is ended), seconds.
    pub max_call_seconds: u64,
    /// At shutdown, calls in progress get this long to finish before we hang up, seconds.
    pub drain_seconds: u64,
    /// New calls a minute from one source address that is neither a `[[trunk]]` nor a
    /// registered agent's phone (a burst of this many, then this many a minute); beyond,
    /// 503 + Retry-After. Emergency numbers are never limited. 0: no limit.
    pub invites_per_source_per_min: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (default: a file next to the config) or `postgres://…`.
    pub url: String,
    /// How often batched events are written, milliseconds.
    pub batch_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// HTTP API (agents, reload, metrics). Empty disables it.
    pub listen: Option<SocketAddr>,
    /// When set, every request must carry `Authorization: Bearer <token>`. Required when
    /// `listen` is not a loopback address. Inline, `{ file = … }` or `{ env = … }`.
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcdConfig {
    /// Ring an agent this long before trying the next one, seconds.
    pub ring_timeout: u64,
    /// Pause an agent after this many missed offers in a row.
    pub max_misses: u32,
    /// Default wrap-up after a call, seconds (agents may override).
    pub wrapup: u64,
    /// Short abandons (hung up within this many seconds of entering a queue) do not count
    /// against the service level.
    pub short_abandon: u64,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            udp: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            tcp: vec![SocketAddr::from(([127, 0, 0, 1], 5060))],
            tls: vec![SocketAddr::from(([127, 0, 0, 1], 5061))],
            srtp: SrtpPolicy::Mandatory,
            min_se: crate::sip::leg::MIN_SE,
            advertise: None,
            t1_ms: 500,
            realm: "centrale".into(),
            answer_delay_ms: 0,
            outbound: "sip:{number}@127.0.0.1:5070".into(),
            digest_algorithms: vec![crate::sip::digest::Algorithm::Md5],
            dns_servers: Vec::new(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            ip: IpAddr::from([127, 0, 0, 1]),
            rtp_min: 20000,
            rtp_max: 39999,
            threads: 0,
            pin_threads: true,
            realtime: true,
            symmetric_rtp: SymmetricRtp::Auto,
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            prompts: "prompts".into(),
            dialplan: "dialplans/quebec".into(),
            agents: "agents.toml".into(),
            recordings: "recordings".into(),
            journal: "journal".into(),
        }
    }
}

impl Default for EmergencyConfig {
    fn default() -> Self {
        EmergencyConfig {
            numbers: vec!["911".into(), "9911".into()],
            uri: "sip:911@127.0.0.1:5070".into(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_calls: 10_000,
            invites_per_source_per_min: 60,
            retry_after: 5,
            max_call_seconds: 4 * 3600,
            drain_seconds: 30,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://centrale.db".into(),
            batch_ms: 200,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8311))),
            token: None,
        }
    }
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            ring_timeout: 15,
            max_misses: 2,
            wrapup: 30,
            short_abandon: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("[{section}] {key}: {source}")]
    Secret {
        section: &'static str,
        key: &'static str,
        source: SecretError,
    },
    #[error("{0}")]
    Exposed(String),
    #[error("[[trunk]]: {0}")]
    Trunk(String),
}

impl Config {
    /// Read a config file; relative paths inside it are taken relative to the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            cfg.paths.rebase(base);
            for p in [&mut cfg.tls.cert, &mut cfg.tls.key] {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
            if let Some(rest) = cfg.database.url.strip_prefix("sqlite://") {
                let p = Path::new(rest);
                if p.is_relative() && !rest.starts_with(':') {
                    cfg.database.url = format!("sqlite://{}", base.join(p).display());
                }
            }
        }
        Ok(cfg)
    }
}

impl Config {
    /// Read every secret once (files, environment); errors name the setting.
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        if let Some(t) = &self.admin.token {
            self.admin.token = Some(t.resolved().map_err(|source| ConfigError::Secret {
                section: "admin",
                key: "token",
                source,
            })?);
        }
        for t in &mut self.trunks {
            if let Some(p) = &t.password {
                t.password = Some(p.resolved().map_err(|source| ConfigError::Secret {
                    section: "trunk",
                    key: "password",
                    source,
                })?);
            }
        }
        let problems: Vec<String> = self
            .trunks
            .iter()
            .flat_map(|t| t.problems(&self.trunks))
            .collect();
        if !problems.is_empty() {
            return Err(ConfigError::Trunk(problems.join("; ")));
        }
        Ok(())
    }

    /// Nothing listens beyond loopback without authentication: refuse a configuration that
    /// would (checked by `serve` before it binds anything).
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        if let Some(addr) = self.admin.listen {
            let open = !addr.ip().is_loopback();
            let no_auth = self
                .admin
                .token
                .as_ref()
                .is_none_or(|t| t.value().is_empty());
            if open && no_auth {
                return Err(ConfigError::Exposed(format!(
                    "the admin API would listen on {addr} (beyond this machine) with no \
                     authentication: set [admin] token (e.g. token = {{ env = \"CENTRALE_ADMIN_TOKEN\" }}), \
                     or listen on 127.0.0.1"
                )));
            }
        }
        Ok(())
    }
}

impl Paths {
    fn rebase(&mut self, base: &Path) {
        for p in [
            &mut self.prompts,
            &mut self.dialplan,
            &mut self.agents,
            &mut self.recordings,
            &mut self.journal,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.sip.udp[0].port(), 5060);
        assert_eq!(c.media.rtp_min, 20000);
    }

    #[test]
    fn unknown_key_is_reported_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[sip]\nudpp = []\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("c.toml:2:1:"), "{e}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[paths]\nprompts = \"p\"\n").unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.paths.prompts, dir.path().join("p"));
        assert!(c.database.url.starts_with("sqlite://"));
        assert!(c.database.url.contains(&dir.path().display().to_string()));
    }

    #[test]
    fn an_open_admin_listener_needs_a_token() {
        let mut c: Config = toml::from_str("[admin]\nlisten = \"0.0.0.0:8311\"\n").unwrap();
        let e = c.check_exposure().unwrap_err().to_string();
        assert!(e.contains("0.0.0.0:8311") && e.contains("token"), "{e}");
        c.admin.token = Some(Secret::Inline("s3cret".into()));
        assert!(c.check_exposure().is_ok());
        let local: Config = toml::from_str("[admin]\nlisten = \"127.0.0.1:8311\"\n").unwrap();
        assert!(local.check_exposure().is_ok());
    }
}
