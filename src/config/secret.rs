//! Secrets in the configuration (API tokens, trunk passwords): written inline for a quick test,
//! or — as a deployment should — read from a file (`{ file = "/run/secrets/x" }`, e.g. a
//! Docker or systemd secret) or an environment variable (`{ env = "CENTRALE_ADMIN_TOKEN" }`).
//! Resolved once at start; never printed: `Debug` shows where a secret comes from, not its
//! value.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Secret {
    Inline(String),
    File { file: PathBuf },
    Env { env: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the environment variable {0} is not set (or not UTF-8)")]
    Env(String),
    #[error("the secret from {0} is empty")]
    Empty(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret(inline)"),
            Secret::File { file } => write!(f, "Secret(file {})", file.display()),
            Secret::Env { env } => write!(f, "Secret(env {env})"),
        }
    }
}

impl Secret {
    /// Read the secret where it lives (a file's trailing newline is not part of it).
    pub fn resolve(&self) -> Result<String, SecretError> {
        let (value, from) = match self {
            Secret::Inline(s) => (s.clone(), "the configuration".to_string()),
            Secret::File { file } => {
                let s = std::fs::read_to_string(file).map_err(|source| SecretError::File {
                    path: file.clone(),
                    source,
                })?;
                (
                    s.trim_end_matches(['\r', '\n']).to_string(),
                    file.display().to_string(),
                )
            }
            Secret::Env { env } => (
                std::env::var(env).map_err(|_| SecretError::Env(env.clone()))?,
                format!("${env}"),
            ),
        };
        if value.is_empty() {
            return Err(SecretError::Empty(from));
        }
        Ok(value)
    }

    /// The same secret, read once (`Inline` from then on).
    pub fn resolved(&self) -> Result<Secret, SecretError> {
        self.resolve().map(Secret::Inline)
    }

    /// The value of a resolved secret (empty for one not yet resolved).
    pub fn value(&self) -> &str {
        match self {
            Secret::Inline(s) => s,
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        a: Secret,
        b: Secret,
        c: Secret,
    }

    #[test]
    fn inline_file_and_env_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "from-file\n").unwrap();
        std::env::set_var("CENTRALE_TEST_SECRET_X", "from-env");
        let t: T = toml::from_str(&format!(
            "a = \"inline-1\"\nb = {{ file = {:?} }}\nc = {{ env = \"CENTRALE_TEST_SECRET_X\" }}\n",
            f.display().to_string()
        ))
        .unwrap();
        assert_eq!(t.a.resolve().unwrap(), "inline-1");
        assert_eq!(t.b.resolve().unwrap(), "from-file");
        assert_eq!(t.c.resolve().unwrap(), "from-env");
        let shown = format!("{:?} {:?} {:?}", t.a, t.b, t.c);
        assert!(
            !shown.contains("inline-1") && !shown.contains("from-"),
            "{shown}"
        );
        let missing = Secret::Env {
            env: "CENTRALE_TEST_SECRET_UNSET".into(),
        };
        assert!(missing
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("not set"));
    }
}
