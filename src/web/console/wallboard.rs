//! The live wallboard: the board (`admin::board`) as JSON, and as server-sent events once a
//! second (a browser's EventSource reconnects by itself after a network hiccup).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use super::{allow, api_error};
use crate::admin::board::board;
use crate::web::session::Role;
use crate::web::Web;

/// How often the board is pushed.
const EVERY: Duration = Duration::from_secs(1);

/// GET /api/wallboard
pub async fn now(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    match board(&web.ctx).await {
        Some(b) => axum::Json(b).into_response(),
        None => api_error(StatusCode::SERVICE_UNAVAILABLE, "the ACD does not answer"),
    }
}

/// GET /api/wallboard/events: `event: board` with the board's JSON, every second, while the
/// session lives.
pub async fn events(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let stream = futures_util::stream::unfold((web, true), |(web, first)| async move {
        if !first {
            tokio::time::sleep(EVERY).await;
        }
        let event = match board(&web.ctx).await {
            Some(b) => Event::default().event("board").json_data(b).ok()?,
            None => Event::default()
                .event("unavailable")
                .data("the ACD does not answer"),
        };
        Some((Ok::<_, Infallible>(event), (web, false)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
