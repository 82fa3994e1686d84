//! Static checks of the container files, since no Docker engine runs where the tests do:
//! compose.yaml has the services, database URL, healthcheck, ports and volumes it should (read
//! with a small line-based reader: the file keeps to block style, two-space indents); every
//! path the Dockerfile COPYs from the build context exists; the image is multi-stage, runs as
//! a non-root user and declares its volumes; and docker/centrale.toml is a valid config.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    // The scratch crate that builds these files outside the repository points here.
    std::env::var_os("CENTRALE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A YAML block-style document flattened to `path → values`: `a.b.c` for nested keys, list
/// items and scalars collected under their key. Enough for compose files; rejects tabs and
/// odd indentation so a malformed file fails here rather than in `docker compose`.
fn flatten_yaml(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        assert!(!raw.contains('\t'), "line {}: tab in YAML", n + 1);
        let line = raw.split(" #").next().unwrap_or("").trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        assert_eq!(indent % 2, 0, "line {}: odd indentation", n + 1);
        let body = line.trim_start();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let path = stack
            .iter()
            .map(|(_, k)| k.as_str())
            .collect::<Vec<_>>()
            .join(".");
        if let Some(item) = body.strip_prefix("- ") {
            out.entry(path).or_default().push(unquote(item));
        } else if let Some((k, v)) = body.split_once(':') {
            let key = unquote(k);
            let full = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let v = v.trim();
            if v.is_empty() {
                out.entry(full).or_default();
                stack.push((indent, key));
            } else {
                out.entry(full).or_default().push(unquote(v));
            }
        } else {
            panic!("line {}: cannot read {body:?}", n + 1);
        }
    }
    out
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').trim_matches('\'').to_string()
}

#[test]
fn compose_runs_centrale_with_postgres() {
    let y = flatten_yaml(&read("docker/compose.yaml"));
    let get = |k: &str| y.get(k).unwrap_or_else(|| panic!("compose.yaml lacks {k}"));
    assert!(get("services.postgres.image")[0].starts_with("postgres:"));
    assert!(get("services.postgres.healthcheck.test")[0].contains("pg_isready"));
    let command = get("services.centrale.command");
    assert_eq!(command[0], "serve");
    let db = command
        .iter()
        .position(|a| a == "--database")
        .expect("--database");
    assert!(command[db + 1].starts_with("postgres://"));
    assert!(command[db + 1].contains("@postgres:5432/"));
    assert_eq!(
        get("services.centrale.depends_on.postgres.condition")[0],
        "service_healthy"
    );
    let ports = get("services.centrale.ports");
    for p in [
        "5060:5060/udp",
        "5060:5060/tcp",
        "5061:5061/tcp",
        "20000-20999:20000-20999/udp",
        "127.0.0.1:8311:8311/tcp",
    ] {
        assert!(ports.iter().any(|x| x == p), "port {p} not published");
    }
    // The admin API is reachable from the host's loopback only, and has a token.
    assert!(
        !ports.iter().any(|x| x == "8311:8311/tcp"),
        "admin API published on every host interface"
    );
    assert!(get("services.centrale.environment.CENTRALE_ADMIN_TOKEN")[0]
        .starts_with("${CENTRALE_ADMIN_TOKEN:?"));
    assert_eq!(
        get("services.centrale.build.dockerfile")[0],
        "docker/Dockerfile"
    );
    assert_eq!(get("services.centrale.build.context")[0], "..");
    let vols = get("services.centrale.volumes");
    assert!(vols.iter().any(|v| v.ends_with(":/var/lib/centrale")));
    assert!(vols.iter().any(|v| v.ends_with(":/etc/centrale/dialplans")));
    for v in vols.iter().chain(get("services.postgres.volumes")) {
        let name = v.split(':').next().unwrap_or("");
        assert!(
            y.contains_key(&format!("volumes.{name}")),
            "volume {name} undeclared"
        );
    }
}

/// Dockerfile instructions with continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                cur.push_str(part);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                if let Some((op, args)) = cur.trim().split_once(char::is_whitespace) {
                    out.push((op.to_uppercase(), args.trim().to_string()));
                }
                cur.clear();
            }
        }
    }
    out
}

#[test]
fn dockerfile_copies_exist_and_image_is_small_and_unprivileged() {
    let ins = instructions(&read("docker/Dockerfile"));
    let froms: Vec<_> = ins.iter().filter(|(op, _)| op == "FROM").collect();
    assert!(froms.len() >= 2, "multi-stage build");
    assert!(
        froms.last().unwrap().1.contains("slim"),
        "small runtime image"
    );
    let mut copied = 0;
    for (op, args) in &ins {
        if op != "COPY" && op != "ADD" {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("--from")) {
            continue; // from a build stage, not from the repository
        }
        let srcs: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let (dest, srcs) = srcs.split_last().expect("COPY needs a destination");
        assert!(!dest.is_empty());
        for s in srcs {
            let p = root().join(s);
            assert!(
                Path::new(&p).exists(),
                "Dockerfile copies {s}, missing in the repository"
            );
            copied += 1;
        }
    }
    for must in [
        "prompts",
        "dialplans",
        "src",
        "Cargo.toml",
        "docker/centrale.toml",
    ] {
        assert!(
            ins.iter()
                .any(|(op, a)| op == "COPY" && a.split_whitespace().any(|w| w == must)),
            "{must} is not copied"
        );
    }
    assert!(copied >= 5);
    let user = ins.iter().rev().find(|(op, _)| op == "USER").expect("USER");
    assert!(user.1 != "root" && user.1 != "0", "runs as root");
    let volume = ins.iter().find(|(op, _)| op == "VOLUME").expect("VOLUME");
    assert!(volume.1.contains("/var/lib/centrale") && volume.1.contains("dialplans"));
    let expose = ins.iter().find(|(op, _)| op == "EXPOSE").expect("EXPOSE");
    for p in ["5060/udp", "5060/tcp", "5061/tcp", "20000-20999/udp"] {
        assert!(expose.1.contains(p), "{p} not exposed");
    }
}

#[test]
fn image_config_is_valid_and_matches_the_published_ports() {
    let path = root().join("docker/centrale.toml");
    let cfg = centrale::config::Config::load(&path).expect("docker/centrale.toml");
    assert_eq!((cfg.media.rtp_min, cfg.media.rtp_max), (20000, 20999));
    assert!(cfg.sip.udp.iter().any(|a| a.port() == 5060));
    assert!(cfg.sip.tls.iter().any(|a| a.port() == 5061));
    assert!(cfg.sip.tcp.iter().any(|a| a.port() == 5060));
    assert_eq!(cfg.admin.listen.map(|a| a.port()), Some(8311));
    // Open to the container's network, so authenticated: without its token `serve` refuses.
    assert!(
        cfg.clone().resolve_secrets().is_err()
            || std::env::var_os("CENTRALE_ADMIN_TOKEN").is_some()
    );
    std::env::set_var("CENTRALE_ADMIN_TOKEN", "test-token-0123456789");
    let mut resolved = cfg.clone();
    resolved
        .resolve_secrets()
        .expect("token from the environment");
    resolved
        .check_exposure()
        .expect("an authenticated open listener is allowed");
    assert!(cfg.database.url.starts_with("sqlite:///var/lib/centrale/"));
    // The plan and prompts it names are the ones the image copies.
    let rel = |p: &Path| p.strip_prefix(root().join("docker")).map(Path::to_path_buf);
    let plan = rel(&cfg.paths.dialplan).expect("relative dial plan");
    assert!(root().join(&plan).is_dir(), "{} missing", plan.display());
    let prompts = rel(&cfg.paths.prompts).expect("relative prompts");
    assert!(root().join(&prompts).is_dir());
}

#[test]
fn the_yaml_reader_reads_what_it_should() {
    let y = flatten_yaml("a:\n  b: 1\n  c:\n    - \"x\"\n    - y # note\nd: 'z'\n");
    assert_eq!(y["a.b"], ["1"]);
    assert_eq!(y["a.c"], ["x", "y"]);
    assert_eq!(y["d"], ["z"]);
}
