//! `agents.toml`: who the agents are (id, display name, SIP username and HA1 digests, skills,
//! queues, wrap-up, seasons), loading it with `file:line:column` errors, validating it, saving it
//! atomically with mode 0600, and the `centrale agent add|list|remove` commands.
//!
//! Never stores or prints a password: only HA1 digests are kept, and `Debug`/`agent list` never
//! show those. Routing calls to agents and registration are elsewhere (ACD, `sip::registrar`).

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::io::{BufRead, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::sip::digest::{self, Algorithm};

/// Shortest password `agent add` accepts: a sniffed digest exchange allows an offline
/// dictionary attack, so short passwords are refused outright.
pub const MIN_PASSWORD_LEN: usize = 8;
const MAX_PASSWORD_LEN: usize = 1024;
const MAX_WRAPUP_S: u64 = 3600;

/// One agent as stored in `agents.toml`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDef {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// SIP username: the user part of the AOR the softphone registers (`sip:<username>@…`).
    pub username: String,
    /// MD5(username:realm:password), lower-case hex. Password-equivalent for our realm, so
    /// serde never serialises it (an admin API answering with JSON cannot leak it); `save`
    /// writes it explicitly.
    #[serde(skip_serializing)]
    pub ha1_md5: String,
    /// SHA-256(username:realm:password), lower-case hex. Password-equivalent, as above.
    #[serde(skip_serializing)]
    pub ha1_sha256: String,
    /// Skill → proficiency 1..=5.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Queues served; empty = every queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
    /// Wrap-up after each call; None = the ACD default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapup_s: Option<u64>,
    /// Seasons the agent is scheduled in (e.g. `["ete"]`); empty = every season.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seasons: Vec<String>,
    /// The browser desktop answers an offered call by itself (a softphone has its own setting).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_answer: bool,
    /// SRTP toward this agent's phone when it registered over TLS (`mandatory`, `optional`,
    /// `off`); None: `[sip] srtp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srtp: Option<crate::media::srtp::SrtpPolicy>,
}

// Hand-written: HA1s must never reach a log through `{:?}`.
impl fmt::Debug for AgentDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentDef")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("skills", &self.skills)
            .field("queues", &self.queues)
            .field("wrapup_s", &self.wrapup_s)
            .field("seasons", &self.seasons)
            .field("auto_answer", &self.auto_answer)
            .field("srtp", &self.srtp)
            .finish_non_exhaustive()
    }
}

impl AgentDef {
    /// A new agent with its HA1s computed from `password` (username defaults to the id).
    pub fn new(id: &str, username: Option<&str>, realm: &str, password: &str) -> AgentDef {
        let mut a = AgentDef {
            id: id.to_string(),
            name: String::new(),
            username: username.unwrap_or(id).to_string(),
            ha1_md5: String::new(),
            ha1_sha256: String::new(),
            skills: BTreeMap::new(),
            queues: Vec::new(),
            wrapup_s: None,
            seasons: Vec::new(),
            auto_answer: false,
            srtp: None,
        };
        a.set_password(realm, password);
        a
    }

    /// Recompute both HA1s (they depend on username and realm too).
    pub fn set_password(&mut self, realm: &str, password: &str) {
        self.ha1_md5 = digest::ha1(Algorithm::Md5, &self.username, realm, password);
        self.ha1_sha256 = digest::ha1(Algorithm::Sha256, &self.username, realm, password);
    }

    /// The stored HA1 for `algorithm`.
    pub fn ha1(&self, algorithm: Algorithm) -> &str {
        match algorithm {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }

    /// Whether the agent may take calls from `queue`.
    pub fn serves(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|q| q == queue)
    }

    /// Whether the agent is scheduled in `season` (None: the calendar has no season now).
    pub fn in_season(&self, season: Option<&str>) -> bool {
        self.seasons.is_empty() || season.is_some_and(|s| self.seasons.iter().any(|x| x == s))
    }

    fn validate(&self) -> Result<(), InvalidAgent> {
        if !valid_id(&self.id) {
            return Err(InvalidAgent::BadId {
                id: self.id.clone(),
            });
        }
        let agent = || self.id.clone();
        if !valid_id(&self.username) {
            return Err(InvalidAgent::BadUsername {
                agent: agent(),
                username: self.username.clone(),
            });
        }
        if self.name.chars().count() > 100 || self.name.chars().any(char::is_control) {
            return Err(InvalidAgent::BadName { agent: agent() });
        }
        for (field, v, len) in [
            ("ha1_md5", &self.ha1_md5, 32),
            ("ha1_sha256", &self.ha1_sha256, 64),
        ] {
            if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(InvalidAgent::BadDigest {
                    agent: agent(),
                    field,
                    len,
                });
            }
        }
        for (skill, &level) in &self.skills {
            if !valid_name(skill) {
                return Err(InvalidAgent::BadSkillName {
                    agent: agent(),
                    skill: skill.clone(),
                });
            }
            if !(1..=5).contains(&level) {
                return Err(InvalidAgent::BadProficiency {
                    agent: agent(),
                    skill: skill.clone(),
                    level,
                });
            }
        }
        for (list, names) in [("queue", &self.queues), ("season", &self.seasons)] {
            let mut seen = HashSet::new();
            for name in names {
                if !valid_name(name) {
                    return Err(InvalidAgent::BadListName {
                        agent: agent(),
                        list,
                        name: name.clone(),
                    });
                }
                if !seen.insert(name) {
                    return Err(InvalidAgent::ListedTwice {
                        agent: agent(),
                        list,
                        name: name.clone(),
                    });
                }
            }
        }
        if self.wrapup_s.is_some_and(|w| w > MAX_WRAPUP_S) {
            return Err(InvalidAgent::WrapUpTooLong { agent: agent() });
        }
        Ok(())
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsFile {
    /// Digest realm the HA1s were computed for; they are useless under any other realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, rename = "agent")]
    pub agents: Vec<AgentDef>,
}

/// Same shape, with each agent's position kept for error messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    realm: Option<String>,
    #[serde(default, rename = "agent")]
    agents: Vec<toml::Spanned<AgentDef>>,
}

/// An agent that breaks a rule of `agents.toml`; `agent` is its id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidAgent {
    #[error("agent id {id:?} must be 1-64 characters of A-Z a-z 0-9 . _ -")]
    BadId { id: String },
    #[error("agent {agent:?}: username {username:?} must be 1-64 characters of A-Z a-z 0-9 . _ -")]
    BadUsername { agent: String, username: String },
    #[error("agent {agent:?}: name must be at most 100 characters, no control characters")]
    BadName { agent: String },
    #[error("agent {agent:?}: {field} must be {len} hex digits")]
    BadDigest {
        agent: String,
        field: &'static str,
        len: usize,
    },
    #[error("agent {agent:?}: skill name {skill:?} must be [a-z0-9_-]+")]
    BadSkillName { agent: String, skill: String },
    #[error("agent {agent:?}: proficiency {level} for skill {skill:?} is not in 1..=5")]
    BadProficiency {
        agent: String,
        skill: String,
        level: u8,
    },
    /// `list` is "queue" or "season".
    #[error("agent {agent:?}: {list} name {name:?} must be [a-z0-9_-]+")]
    BadListName {
        agent: String,
        list: &'static str,
        name: String,
    },
    #[error("agent {agent:?}: {list} {name:?} is listed twice")]
    ListedTwice {
        agent: String,
        list: &'static str,
        name: String,
    },
    #[error("agent {agent:?}: wrapup_s is more than {MAX_WRAPUP_S} seconds")]
    WrapUpTooLong { agent: String },
    #[error("agent id {id:?} is used twice")]
    DuplicateId { id: String },
    #[error("username {username:?} is used twice")]
    DuplicateUsername { username: String },
}

#[derive(Debug, Error)]
pub enum AgentsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
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
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Agent(#[from] InvalidAgent),
    #[error("no agent {0:?}")]
    NotFound(String),
    #[error("password: {0}")]
    Password(String),
}

const HEADER: &str = "\
# centrale agents. Edit by hand or with `centrale agent add|remove`; the server reloads it.
# ha1_* are digests of username:realm:password and are password-equivalent for this realm:
# keep this file private (mode 0600). Comments written here are not kept by `agent add`.
";

/// The registrar authenticates agents' phones against this file.
impl crate::sip::registrar::Accounts for AgentsFile {
    fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    fn account(
        &self,
        username: &str,
        alg: crate::sip::digest::Algorithm,
    ) -> Option<(String, String)> {
        self.agents
            .iter()
            .find(|a| a.username == username)
            .map(|a| (a.id.clone(), a.ha1(alg).to_string()))
    }

    fn has_agent(&self, agent: &str) -> bool {
        self.agents.iter().any(|a| a.id == agent)
    }

    fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

impl AgentsFile {
    /// Read and validate a file; a missing file means no agents.
    pub fn load(path: &Path) -> Result<AgentsFile, AgentsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => AgentsFile::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AgentsFile::default()),
            Err(source) => Err(AgentsError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parse and validate file contents (`path` is for messages only).
    pub fn parse(text: &str, path: &Path) -> Result<AgentsFile, AgentsError> {
        let at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            AgentsError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| at(e.span().map_or(0, |s| s.start), e.message().to_string()))?;
        let spans: Vec<usize> = raw.agents.iter().map(|a| a.span().start).collect();
        let mut file = AgentsFile {
            realm: raw.realm,
            agents: raw.agents.into_iter().map(|a| a.into_inner()).collect(),
        };
        for a in &mut file.agents {
            a.ha1_md5.make_ascii_lowercase();
            a.ha1_sha256.make_ascii_lowercase();
        }
        file.check()
            .map_err(|(i, invalid)| at(spans.get(i).copied().unwrap_or(0), invalid.to_string()))?;
        Ok(file)
    }

    /// Every rule: each agent valid, ids and usernames unique. Err carries the agent's index.
    fn check(&self) -> Result<(), (usize, InvalidAgent)> {
        let mut ids = HashSet::new();
        let mut users = HashSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            a.validate().map_err(|e| (i, e))?;
            if !ids.insert(a.id.as_str()) {
                let id = a.id.clone();
                return Err((i, InvalidAgent::DuplicateId { id }));
            }
            if !users.insert(a.username.as_str()) {
                let username = a.username.clone();
                return Err((i, InvalidAgent::DuplicateUsername { username }));
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), AgentsError> {
        self.check().map_err(|(_, e)| AgentsError::Agent(e))
    }

    pub fn get(&self, id: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn by_username(&self, username: &str) -> Option<&AgentDef> {
        self.agents.iter().find(|a| a.username == username)
    }

    /// Insert or replace (by id). Returns true when the agent is new. The file is unchanged
    /// when the result would be invalid.
    pub fn add_or_update(&mut self, agent: AgentDef) -> Result<bool, AgentsError> {
        let mut next = self.clone();
        let added = match next.agents.iter_mut().find(|a| a.id == agent.id) {
            Some(slot) => {
                *slot = agent;
                false
            }
            None => {
                next.agents.push(agent);
                true
            }
        };
        next.validate()?;
        *self = next;
        Ok(added)
    }

    pub fn remove(&mut self, id: &str) -> Option<AgentDef> {
        let i = self.agents.iter().position(|a| a.id == id)?;
        Some(self.agents.remove(i))
    }

    /// Write atomically (temporary file in the same directory, then rename), mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), AgentsError> {
        self.validate()?;
        let werr = |source| AgentsError::Write {
            path: path.to_path_buf(),
            source,
        };
        let body = self.to_toml();
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = path.file_name().map_or_else(
            || "agents.toml".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let write = || -> std::io::Result<()> {
            let mut f = opts.open(&tmp)?;
            // The mode above applies only on creation: a leftover temp file keeps its own.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            f.write_all(HEADER.as_bytes())?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            werr(e)
        })
    }
}

impl AgentsFile {
    /// The file's text. Written by hand rather than through serde so that skills stay an
    /// inline table on the agent's own lines and the HA1s (never serialised by serde) are kept.
    fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let list = |v: &[String]| {
            let items: Vec<String> = v.iter().map(|s| q(s)).collect();
            format!("[{}]", items.join(", "))
        };
        let mut out = String::new();
        if let Some(r) = &self.realm {
            let _ = writeln!(out, "\nrealm = {}", q(r));
        }
        for a in &self.agents {
            let _ = writeln!(out, "\n[[agent]]\nid = {}", q(&a.id));
            if !a.name.is_empty() {
                let _ = writeln!(out, "name = {}", q(&a.name));
            }
            let _ = writeln!(out, "username = {}", q(&a.username));
            // Skill names are validated as [a-z0-9_-]+, which are valid bare keys.
            let skills: Vec<String> = a.skills.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            if skills.is_empty() {
                out.push_str("skills = {}\n");
            } else {
                let _ = writeln!(out, "skills = {{ {} }}", skills.join(", "));
            }
            if !a.queues.is_empty() {
                let _ = writeln!(out, "queues = {}", list(&a.queues));
            }
            if let Some(w) = a.wrapup_s {
                let _ = writeln!(out, "wrapup_s = {w}");
            }
            if !a.seasons.is_empty() {
                let _ = writeln!(out, "seasons = {}", list(&a.seasons));
            }
            if a.auto_answer {
                out.push_str("auto_answer = true\n");
            }
            if let Some(p) = a.srtp {
                let _ = writeln!(out, "srtp = {}", q(p.name()));
            }
            let _ = writeln!(out, "ha1_md5 = {}", q(&a.ha1_md5));
            let _ = writeln!(out, "ha1_sha256 = {}", q(&a.ha1_sha256));
        }
        out
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

// ---------------------------------------------------------------------------------------------
// The `centrale agent …` commands.

/// `centrale agent …`
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum AgentCommand {
    /// Add an agent, or change one (options not given keep their value). The password is read
    /// from standard input, one line, and stored only as digests.
    Add(AddArgs),
    /// List agents (password digests are never shown).
    List,
    /// Remove an agent; a running server drops its registrations.
    Remove { id: String },
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AddArgs {
    /// Agent id (A-Z a-z 0-9 . _ -).
    pub id: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// SIP username the softphone registers with (default: the id).
    #[arg(long)]
    pub username: Option<String>,
    /// Skills with proficiency 1-5, e.g. `fr:5,en:3,permits:4` (empty: none).
    #[arg(long)]
    pub skills: Option<String>,
    /// Queues served, e.g. `q1,q2`; `*` = every queue (the default for a new agent).
    #[arg(long)]
    pub queues: Option<String>,
    /// Wrap-up seconds after each call, or `default` for the ACD's.
    #[arg(long)]
    pub wrapup: Option<String>,
    /// Seasons the agent works, e.g. `ete`; `*` = every season (the default).
    #[arg(long)]
    pub seasons: Option<String>,
    /// The browser desktop answers offered calls by itself: `on` or `off`.
    #[arg(long, value_parser = ["on", "off"])]
    pub auto_answer: Option<String>,
    /// SRTP toward the agent's phone over TLS: `mandatory`, `optional`, `off`, or `default`
    /// (`[sip] srtp`).
    #[arg(long, value_parser = ["mandatory", "optional", "off", "default"])]
    pub srtp: Option<String>,
    /// Change an existing agent without reading a new password.
    #[arg(long)]
    pub keep_password: bool,
}

/// Run one `agent` command; the password comes from standard input, unechoed on a terminal.
pub fn run(args: &AgentArgs, path: &Path, realm: &str) -> Result<String, AgentsError> {
    match &args.command {
        AgentCommand::Add(a) => {
            let stdin = std::io::stdin();
            let _echo = EchoOff::new(&stdin, &a.id);
            cmd_add(path, realm, a, &mut stdin.lock())
        }
        AgentCommand::List => cmd_list(path),
        AgentCommand::Remove { id } => cmd_remove(path, id),
    }
}

/// `agent add`: create or change an agent and save the file. Returns a one-line summary.
pub fn cmd_add(
    path: &Path,
    realm: &str,
    args: &AddArgs,
    password_from: &mut dyn BufRead,
) -> Result<String, AgentsError> {
    let mut file = AgentsFile::load(path)?;
    match &file.realm {
        Some(r) if r != realm => {
            return Err(AgentsError::Invalid(format!(
                "{} was written for realm {r:?} but the configured realm is {realm:?}; \
                 fix sip.realm or re-enter every agent's password",
                path.display()
            )))
        }
        Some(_) => {}
        None => file.realm = Some(realm.to_string()),
    }
    let existing = file.get(&args.id).cloned();
    let is_new = existing.is_none();
    let mut agent = existing.unwrap_or_else(|| AgentDef {
        id: args.id.clone(),
        name: String::new(),
        username: args.id.clone(),
        ha1_md5: String::new(),
        ha1_sha256: String::new(),
        skills: BTreeMap::new(),
        queues: Vec::new(),
        wrapup_s: None,
        seasons: Vec::new(),
        auto_answer: false,
        srtp: None,
    });
    let username_changed = args.username.as_ref().is_some_and(|u| *u != agent.username);
    if let Some(n) = &args.name {
        agent.name = n.trim().to_string();
    }
    if let Some(u) = &args.username {
        agent.username = u.trim().to_string();
    }
    if let Some(s) = &args.skills {
        agent.skills = parse_skills(s)?;
    }
    if let Some(q) = &args.queues {
        agent.queues = parse_list(q);
    }
    if let Some(s) = &args.seasons {
        agent.seasons = parse_list(s);
    }
    if let Some(w) = &args.wrapup {
        agent.wrapup_s = parse_wrapup(w)?;
    }
    if let Some(on) = &args.auto_answer {
        agent.auto_answer = on == "on";
    }
    if let Some(p) = &args.srtp {
        agent.srtp = crate::media::srtp::SrtpPolicy::parse(p);
    }
    if args.keep_password {
        if is_new {
            return Err(AgentsError::Password(
                "a new agent needs a password (drop --keep-password)".into(),
            ));
        }
        if username_changed {
            return Err(AgentsError::Password(
                "the digests depend on the username: changing it needs the password again".into(),
            ));
        }
    } else {
        // Validate the rest first so a typo does not cost the admin a password prompt.
        agent.set_password(realm, "-");
        let mut probe = file.clone();
        probe.add_or_update(agent.clone())?;
        let password = read_password(password_from)?;
        agent.set_password(realm, &password);
    }
    let added = file.add_or_update(agent)?;
    file.save(path)?;
    let a = file
        .get(&args.id)
        .ok_or_else(|| AgentsError::NotFound(args.id.clone()))?;
    Ok(format!(
        "{} agent {} (SIP username {})",
        if added { "added" } else { "updated" },
        a.id,
        a.username
    ))
}

/// `agent list`: a table, never with digests.
pub fn cmd_list(path: &Path) -> Result<String, AgentsError> {
    let file = AgentsFile::load(path)?;
    if file.agents.is_empty() {
        return Ok(format!("no agents in {}\n", path.display()));
    }
    let rows: Vec<[String; 7]> = file
        .agents
        .iter()
        .map(|a| {
            let skills = a
                .skills
                .iter()
                .map(|(s, l)| format!("{s}:{l}"))
                .collect::<Vec<_>>()
                .join(",");
            let all = |v: &Vec<String>| {
                if v.is_empty() {
                    "*".to_string()
                } else {
                    v.join(",")
                }
            };
            [
                a.id.clone(),
                a.username.clone(),
                a.name.clone(),
                if skills.is_empty() {
                    "-".into()
                } else {
                    skills
                },
                all(&a.queues),
                a.wrapup_s
                    .map_or_else(|| "default".to_string(), |w| format!("{w}s")),
                all(&a.seasons),
            ]
        })
        .collect();
    let head = [
        "ID", "USERNAME", "NAME", "SKILLS", "QUEUES", "WRAPUP", "SEASONS",
    ];
    let mut widths = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&head);
    for r in &rows {
        line(&r.iter().map(String::as_str).collect::<Vec<_>>());
    }
    Ok(out)
}

/// `agent remove`.
pub fn cmd_remove(path: &Path, id: &str) -> Result<String, AgentsError> {
    let mut file = AgentsFile::load(path)?;
    let gone = file
        .remove(id)
        .ok_or_else(|| AgentsError::NotFound(id.to_string()))?;
    file.save(path)?;
    Ok(format!(
        "removed agent {} (SIP username {})",
        gone.id, gone.username
    ))
}

/// `fr:5,en:3` → map; empty → no skills.
pub fn parse_skills(spec: &str) -> Result<BTreeMap<String, u8>, AgentsError> {
    let mut out = BTreeMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, level) = part.split_once(':').ok_or_else(|| {
            AgentsError::Invalid(format!("skill {part:?}: write name:level, e.g. fr:5"))
        })?;
        let name = name.trim().to_ascii_lowercase();
        let level: u8 = level
            .trim()
            .parse()
            .ok()
            .filter(|l| (1..=5).contains(l))
            .ok_or_else(|| {
                AgentsError::Invalid(format!("skill {name:?}: proficiency must be 1 to 5"))
            })?;
        if out.insert(name.clone(), level).is_some() {
            return Err(AgentsError::Invalid(format!(
                "skill {name:?} is given twice"
            )));
        }
    }
    Ok(out)
}

/// `a,b` → list; `*` or empty → empty (meaning every one).
fn parse_list(spec: &str) -> Vec<String> {
    spec.split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "*")
        .collect()
}

fn parse_wrapup(spec: &str) -> Result<Option<u64>, AgentsError> {
    let s = spec.trim();
    if s.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    let s = s.strip_suffix('s').unwrap_or(s);
    s.parse::<u64>()
        .ok()
        .filter(|w| *w <= MAX_WRAPUP_S)
        .map(Some)
        .ok_or_else(|| {
            AgentsError::Invalid(format!(
                "wrap-up must be 0 to {MAX_WRAPUP_S} seconds, or `default`"
            ))
        })
}

/// One line; the line ending is removed, nothing else (spaces may be part of a password).
fn read_password(from: &mut dyn BufRead) -> Result<String, AgentsError> {
    let mut buf = Vec::new();
    // Bounded read: stdin might be a large file by mistake.
    let mut limited = std::io::Read::take(from, MAX_PASSWORD_LEN as u64 + 2);
    limited
        .read_until(b'\n', &mut buf)
        .map_err(|e| AgentsError::Password(format!("cannot read standard input: {e}")))?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() > MAX_PASSWORD_LEN {
        return Err(AgentsError::Password(format!(
            "longer than {MAX_PASSWORD_LEN} bytes"
        )));
    }
    let password =
        String::from_utf8(buf).map_err(|_| AgentsError::Password("not valid UTF-8".into()))?;
    if password.is_empty() {
        return Err(AgentsError::Password(
            "empty (give it on standard input, one line)".into(),
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AgentsError::Password(format!(
            "shorter than {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(AgentsError::Password("contains control characters".into()));
    }
    Ok(password)
}

/// Turns terminal echo off while the password is typed (and prompts on stderr); a no-op when
/// standard input is a pipe. Restores the terminal on drop.
struct EchoOff {
    #[cfg(unix)]
    saved: Option<(i32, libc::termios)>,
}

impl EchoOff {
    fn new(stdin: &std::io::Stdin, id: &str) -> EchoOff {
        use std::io::IsTerminal;
        if !stdin.is_terminal() {
            return EchoOff {
                #[cfg(unix)]
                saved: None,
            };
        }
        eprint!("Password for agent {id}: ");
        let _ = std::io::stderr().flush();
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = stdin.as_raw_fd();
            // SAFETY: termios is plain data; tcgetattr fills it for a valid fd or fails.
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
                return EchoOff { saved: None };
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            t.c_lflag |= libc::ECHONL;
            // SAFETY: valid fd and a termios obtained from tcgetattr.
            unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
            EchoOff {
                saved: Some((fd, saved)),
            }
        }
        #[cfg(not(unix))]
        EchoOff {}
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some((fd, saved)) = &self.saved {
            // SAFETY: restores the attributes read from the same fd in `new`.
            unsafe { libc::tcsetattr(*fd, libc::TCSANOW, saved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "centrale";

    fn add(path: &Path, args: AddArgs, stdin: &str) -> Result<String, AgentsError> {
        cmd_add(path, REALM, &args, &mut stdin.as_bytes())
    }

    fn args(id: &str) -> AddArgs {
        AddArgs {
            id: id.into(),
            ..AddArgs::default()
        }
    }

    #[test]
    fn an_agents_srtp_policy_is_saved_and_default_removes_it() {
        use crate::media::srtp::SrtpPolicy;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agents.toml");
        let mut a = args("marie");
        a.srtp = Some("optional".into());
        add(&p, a, "correct horse\n").unwrap();
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("srtp = \"optional\""));
        let f = AgentsFile::load(&p).unwrap();
        assert_eq!(f.get("marie").unwrap().srtp, Some(SrtpPolicy::Optional));
        let mut u = args("marie");
        u.srtp = Some("default".into());
        u.keep_password = true;
        add(&p, u, "").unwrap();
        let f = AgentsFile::load(&p).unwrap();
        assert_eq!(f.get("marie").unwrap().srtp, None);
        assert!(!std::fs::read_to_string(&p).unwrap().contains("srtp"));
    }

    #[test]
    fn missing_file_is_no_agents() {
        let dir = tempfile::tempdir().unwrap();
        let f = AgentsFile::load(&dir.path().join("agents.toml")).unwrap();
        assert!(f.agents.is_empty());
    }

    #[test]
    fn add_list_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agents.toml");
        let mut a = args("marie");
        a.name = Some("Marie Tremblay".into());
        a.skills = Some("fr:5, en:3,permits:4".into());
        a.queues = Some("permits,general".into());
        a.seasons = Some("ete".into());
        a.wrapup = Some("45".into());
        let msg = add(&p, a, "correct horse\n").unwrap();
        assert_eq!(msg, "added agent marie (SIP username marie)");
        add(&p, args("luc"), "battery staple\r\n").unwrap();

        let f = AgentsFile::load(&p).unwrap();
        assert_eq!(f.realm.as_deref(), Some(REALM));
        let m = f.get("marie").unwrap();
        assert_eq!(m.skills.get("fr"), Some(&5));
        assert_eq!(m.skills.get("permits"), Some(&4));
        assert_eq!(m.queues, vec!["permits", "general"]);
        assert_eq!(m.seasons, vec!["ete"]);
        assert_eq!(m.wrapup_s, Some(45));
        assert!(m.serves("general") && !m.serves("taxes"));
        assert!(m.in_season(Some("ete")) && !m.in_season(Some("hiver")) && !m.in_season(None));
        assert_eq!(
            m.ha1_md5,
            digest::ha1(Algorithm::Md5, "marie", REALM, "correct horse")
        );
        assert_eq!(
            f.get("luc").unwrap().ha1_sha256,
            digest::ha1(Algorithm::Sha256, "luc", REALM, "battery staple")
        );
        let l = f.get("luc").unwrap();
        assert!(l.queues.is_empty() && l.serves("anything") && l.in_season(None));

        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("correct horse"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let list = cmd_list(&p).unwrap();
        assert!(list.starts_with("ID"), "{list}");
        assert!(list.contains("Marie Tremblay"), "{list}");
        assert!(list.contains("en:3,fr:5,permits:4"), "{list}");
        assert!(!list.contains(&m.ha1_md5) && !list.contains(&m.ha1_sha256));

        // Update without a password keeps the digests; queues back to every queue.
        let mut u = args("marie");
        u.queues = Some("*".into());
        u.keep_password = true;
        assert_eq!(
            add(&p, u, "").unwrap(),
            "updated agent marie (SIP username marie)"
        );
        let f2 = AgentsFile::load(&p).unwrap();
        let m2 = f2.get("marie").unwrap();
        assert!(m2.queues.is_empty());
        assert_eq!(m2.ha1_md5, m.ha1_md5);
        assert_eq!(m2.skills, m.skills);

        assert_eq!(
            cmd_remove(&p, "luc").unwrap(),
            "removed agent luc (SIP username luc)"
        );
        assert!(matches!(
            cmd_remove(&p, "luc"),
            Err(AgentsError::NotFound(_))
        ));
        assert_eq!(AgentsFile::load(&p).unwrap().agents.len(), 1);
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn add_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agents.toml");
        assert!(matches!(
            add(&p, args("a"), ""),
            Err(AgentsError::Password(_))
        ));
        assert!(matches!(
            add(&p, args("a"), "\n"),
            Err(AgentsError::Password(_))
        ));
        assert!(matches!(
            add(&p, args("a"), "short\n"),
            Err(AgentsError::Password(_))
        ));
        let mut k = args("a");
        k.keep_password = true;
        assert!(matches!(add(&p, k, ""), Err(AgentsError::Password(_))));
        let mut s = args("a");
        s.skills = Some("fr:6".into());
        assert!(matches!(
            add(&p, s, "long enough\n"),
            Err(AgentsError::Invalid(_))
        ));
        let mut s = args("a");
        s.skills = Some("fr".into());
        assert!(add(&p, s, "long enough\n").is_err());
        let mut q = args("a");
        q.queues = Some("Bad Queue!".into());
        assert!(add(&p, q, "long enough\n").is_err());
        assert!(add(&p, args("bad id"), "long enough\n").is_err());
        // Nothing was written by any of those.
        assert!(!p.exists());

        add(&p, args("a"), "long enough\n").unwrap();
        let mut dup = args("b");
        dup.username = Some("a".into());
        let e = add(&p, dup, "long enough\n").unwrap_err().to_string();
        assert!(e.contains("username \"a\" is used twice"), "{e}");
        let mut rename = args("a");
        rename.username = Some("a2".into());
        rename.keep_password = true;
        assert!(matches!(add(&p, rename, ""), Err(AgentsError::Password(_))));
        // Another realm's digests are refused rather than silently mixed.
        let e = cmd_add(&p, "other", &args("c"), &mut "long enough\n".as_bytes()).unwrap_err();
        assert!(e.to_string().contains("realm"), "{e}");
    }

    #[test]
    fn load_errors_have_positions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agents.toml");
        let h5 = "0".repeat(32);
        let h2 = "0".repeat(64);
        let good = format!(
            "realm = \"centrale\"\n\n[[agent]]\nid = \"a\"\nusername = \"a\"\nha1_md5 = \"{h5}\"\nha1_sha256 = \"{h2}\"\nskills = {{ fr = 5 }}\n"
        );
        std::fs::write(&p, &good).unwrap();
        assert_eq!(AgentsFile::load(&p).unwrap().agents[0].skills["fr"], 5);

        std::fs::write(&p, format!("{good}\n[[agent]]\nid = \"b\"\nusername = \"b\"\nha1_md5 = \"{h5}\"\nha1_sha256 = \"{h2}\"\nskills = {{ fr = 7 }}\n")).unwrap();
        let e = AgentsFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("agents.toml:10:1:"), "{e}");
        assert!(e.contains("proficiency 7"), "{e}");

        std::fs::write(&p, format!("{good}colour = 1\n")).unwrap();
        let e = AgentsFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("agents.toml:"), "{e}");

        std::fs::write(&p, "[[agent]]\nid = \"a\"\nusername = \"a\"\n").unwrap();
        let e = AgentsFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("missing field"), "{e}");

        std::fs::write(&p, format!("{good}\n[[agent]]\nid = \"a\"\nusername = \"x\"\nha1_md5 = \"{h5}\"\nha1_sha256 = \"{h2}\"\n")).unwrap();
        let e = AgentsFile::load(&p).unwrap_err().to_string();
        assert!(e.contains(":10:1:") && e.contains("used twice"), "{e}");

        std::fs::write(&p, "[[agent]\n").unwrap();
        let e = AgentsFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("agents.toml:1:"), "{e}");
    }

    #[test]
    fn save_round_trips_and_debug_hides_digests() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agents.toml");
        let mut f = AgentsFile {
            realm: Some(REALM.into()),
            agents: vec![],
        };
        let mut a = AgentDef::new("x", Some("1001"), REALM, "secret pass");
        a.skills.insert("en".into(), 2);
        a.seasons.push("hiver".into());
        assert!(f.add_or_update(a.clone()).unwrap());
        assert!(!f.add_or_update(a.clone()).unwrap());
        f.save(&p).unwrap();
        assert_eq!(AgentsFile::load(&p).unwrap(), f);
        let dbg = format!("{a:?}");
        assert!(
            !dbg.contains(&a.ha1_md5) && !dbg.contains(&a.ha1_sha256),
            "{dbg}"
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("# centrale agents"), "{text}");
        assert!(text.contains("skills = { en = 2 }\n"), "{text}");
        // serde (what an admin API would use) never carries the digests.
        let ser = toml::to_string(&a).unwrap();
        assert!(!ser.contains("ha1") && !ser.contains(&a.ha1_md5), "{ser}");
    }

    #[test]
    fn clap_parses_the_documented_command() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: Top,
        }
        #[derive(clap::Subcommand)]
        enum Top {
            Agent(AgentArgs),
        }
        let cli = Cli::try_parse_from([
            "centrale",
            "agent",
            "add",
            "marie",
            "--name",
            "Marie T",
            "--skills",
            "fr:5,en:3,permits:4",
            "--queues",
            "q1,q2",
        ])
        .unwrap();
        let Top::Agent(AgentArgs {
            command: AgentCommand::Add(a),
        }) = cli.cmd
        else {
            panic!("not add")
        };
        assert_eq!(a.id, "marie");
        assert_eq!(a.queues.as_deref(), Some("q1,q2"));
        assert!(Cli::try_parse_from(["centrale", "agent", "list"]).is_ok());
        assert!(Cli::try_parse_from(["centrale", "agent", "remove", "marie"]).is_ok());
    }
}
