//! The HTTPS side of centrale: one listener (`[web] listen`, default 127.0.0.1:8443) serving
//! the agent desktop (sign-in, the page and its plain ES modules, one WebSocket per signed-in
//! agent), the admin and supervisor console and its JSON API (`console`). TLS by rustls with the certificate of `tls`
//! (configured, or self-signed at first start); routes by axum; sessions in `session`.
//!
//! Owns: HTTP, sessions, origin checks, the desktop's WebSocket protocol. Never does: call
//! logic (calls are driven by `call`; the desktop only talks to a call's driver and to the ACD
//! through `server::messages`).
//!
//! Files: this one (state, router, the TLS accept loop), `session`, `signin`, `assets`, `desk`,
//! `history`, `console/`.

mod assets;
pub mod console;
pub mod desk;
mod history;
pub mod session;
pub(crate) mod signin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::server::Ctx;
use crate::sip::random::Random;
use session::{Principal, Session, Sessions};

/// How long a TLS handshake and a request's head may take (slow clients are cut).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request handler shares.
pub struct Web {
    pub ctx: Arc<Ctx>,
    pub sessions: Sessions,
    pub ttl: Duration,
}

impl Web {
    pub fn new(ctx: Arc<Ctx>) -> Arc<Web> {
        let minutes = ctx.cfg.web.session_minutes;
        let secs = if minutes.is_finite() {
            (minutes * 60.0).clamp(3.0, 366.0 * 86_400.0)
        } else {
            600.0 * 60.0
        };
        let ttl = Duration::from_secs_f64(secs);
        Arc::new(Web {
            // Five failed sign-ins a minute per source address and per name.
            sessions: Sessions::new(ttl, 5, 5, Random::from_os()),
            ttl,
            ctx,
        })
    }

    /// The session of a request, if its cookie names a live one.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let cookie = headers.get("cookie")?.to_str().ok()?;
        let token = session::token_from(cookie)?;
        self.sessions.get(token, std::time::Instant::now())
    }

    /// The agent signed in on this request.
    pub fn agent(&self, headers: &HeaderMap) -> Option<(Session, String)> {
        let s = self.session(headers)?;
        match &s.who {
            Principal::Agent { id, .. } => {
                let id = id.clone();
                Some((s, id))
            }
            Principal::User { .. } => None,
        }
    }

    /// Whether a state-changing request comes from one of our own pages: its `Origin` (or,
    /// lacking one, its `Referer`) is this listener's address as the browser saw it, or one of
    /// `[web] origins`.
    pub fn same_origin(&self, headers: &HeaderMap) -> bool {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin = headers
            .get("origin")
            .or_else(|| headers.get("referer"))
            .and_then(|h| h.to_str().ok());
        let Some(origin) = origin else {
            return false;
        };
        let ours = format!("https://{host}");
        origin == ours
            || origin.starts_with(&format!("{ours}/"))
            || self
                .ctx
                .cfg
                .web
                .origins
                .iter()
                .any(|o| origin == o || origin.starts_with(&format!("{o}/")))
    }
}

fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/agent") }))
        .route("/agent", get(signin::agent_page))
        .route("/agent/signin", post(signin::agent_signin))
        .route("/agent/signout", post(signin::signout))
        .route("/agent/ws", get(desk::upgrade))
        .route("/agent/session", get(signin::agent_session))
        .route("/assets/{file}", get(assets::serve))
        .merge(console::routes())
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found").into_response() })
        .with_state(web)
}

/// The largest request body: a recording upload, else every JSON or form body.
const MAX_UPLOAD: u64 = 20 << 20;
const MAX_BODY: u64 = 2 << 20;

/// A request announcing a body over the limit is answered 413 before a byte of it is read
/// (with `Expect: 100-continue` the client then never sends it).
fn too_large<B>(req: &hyper::Request<B>) -> Option<Response> {
    let len: u64 = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let max = if req.uri().path().starts_with("/api/storm/audio/") {
        MAX_UPLOAD
    } else {
        MAX_BODY
    };
    (len > max).then(|| {
        console::api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} MB", max >> 20),
        )
    })
}

/// Security headers on every response.
fn harden(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("strict-transport-security", "max-age=31536000"),
        (
            "content-security-policy",
            "default-src 'self'; connect-src 'self' wss:; img-src 'self' data:; \
             media-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    ] {
        // A route that sets its own policy (the report page) keeps it.
        if h.contains_key(k) {
            continue;
        }
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    }
    r
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Accept TLS connections forever, one task each.
pub async fn serve(web: Arc<Web>, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "web (agent desktop, console, API) listening on HTTPS");
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = router(web);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "web accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake too slow: dropped");
                    return;
                }
            };
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    if let Some(r) = too_large(&req) {
                        return Ok(harden(r));
                    }
                    let r = app.oneshot(req).await;
                    r.map(harden)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "web connection ended with an error");
            }
        });
    }
}
