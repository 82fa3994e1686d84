//! The desktop's pages, scripts and style, compiled into the binary (no build step, no files to
//! deploy). Each is served with its content type, `no-cache` (a new binary serves new files at
//! once) and an ETag of its content.

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

pub const AGENT_HTML: &str = include_str!("assets/agent.html");
pub const SIGNIN_HTML: &str = include_str!("assets/signin.html");
pub const CONSOLE_HTML: &str = include_str!("assets/console.html");
pub const CONSOLE_SIGNIN_HTML: &str = include_str!("assets/console-signin.html");

const FILES: &[(&str, &str, &str)] = &[
    (
        "agent.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/agent.js"),
    ),
    (
        "signin.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/signin.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
    (
        "console-signin.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console-signin.js"),
    ),
    (
        "mic.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/mic.js"),
    ),
    (
        "capture-worklet.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/capture-worklet.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/i18n.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
];

fn etag(body: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(body.as_bytes())[..8]))
}

/// GET /assets/{file}
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, ctype, body)) = FILES.iter().find(|(n, _, _)| *n == file) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let tag = etag(body);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, *ctype),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ETAG, tag.as_str()),
        ],
        *body,
    )
        .into_response()
}
