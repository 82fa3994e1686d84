//! Reports in the console: the figures of `centrale report` (same tallies, same renderers)
//! for a date range, interval and queue, as the HTML page with its chart, CSV (downloaded),
//! JSON or SVG.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::ValueEnum;

use super::{allow, api_error};
use crate::report::interval::{default_seasons, Bucket};
use crate::report::{build, render, Format, ReportArgs};
use crate::web::session::Role;
use crate::web::Web;

/// GET /api/report?from=2027-01-01&to=2027-01-08&by=day&queue=general&format=html
pub async fn report(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = allow(&web, &headers, Role::Supervisor, false).await {
        return r;
    }
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let (Some(from), Some(to)) = (get("from"), get("to")) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "from and to are required (local dates: 2027-01-01)",
        );
    };
    let by = match Bucket::from_str(get("by").unwrap_or("hour"), true) {
        Ok(b) => b,
        Err(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "by is 15min, hour, day, week, month or season",
            )
        }
    };
    let format = match Format::from_str(get("format").unwrap_or("html"), true) {
        Ok(f) => f,
        Err(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "format is html, csv, json, svg or table",
            )
        }
    };
    let num = |k: &str, d: f64| get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(d);
    let args = ReportArgs {
        database: web.ctx.cfg.database.url.clone(),
        from: from.to_string(),
        to: to.to_string(),
        by,
        queue: get("queue").map(str::to_string),
        format,
        short_abandon_s: num("short_abandon", web.ctx.cfg.acd.short_abandon as f64) as u64,
        threshold_s: num("threshold", 100.0) as u64,
        target_pct: num("target", 80.0),
        out: None,
        no_rollup: false,
        waits: false,
        dispositions: false,
    };
    let Some(db) = web.ctx.db() else {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "no database");
    };
    let by_disposition = get("dispositions").is_some();
    let text = if by_disposition {
        // The wrap-up dispositions per queue and code (as `centrale report --dispositions`).
        match dispositions(db, &args).await {
            Ok(t) => t,
            Err(e) => return api_error(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
        }
    } else {
        let built = build(db, &args, crate::event::now_ms(), &default_seasons()).await;
        match built.map(|r| render::render(&r, format)) {
            Ok(Ok(t)) => t,
            Ok(Err(e)) | Err(e) => {
                return api_error(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}"))
            }
        }
    };
    // The disposition table has no chart: its "page" is the plain table.
    let format = if by_disposition && format == Format::Html {
        Format::Table
    } else {
        format
    };
    let (kind, attachment) = match format {
        Format::Html => ("text/html; charset=utf-8", None),
        Format::Csv => ("text/csv; charset=utf-8", Some("csv")),
        Format::Json => ("application/json", None),
        Format::Svg => ("image/svg+xml", None),
        Format::Table => ("text/plain; charset=utf-8", None),
    };
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, kind)], text).into_response();
    let h = r.headers_mut();
    if let Some(ext) = attachment {
        let name = format!("attachment; filename=\"centrale-{from}-{to}.{ext}\"");
        if let Ok(v) = name.parse() {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    // The report page styles itself inline and runs no script.
    if let Ok(v) = "default-src 'none'; style-src 'unsafe-inline'; img-src data:".parse() {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

async fn dispositions(db: &crate::store::Db, args: &ReportArgs) -> anyhow::Result<String> {
    use crate::report::{dispositions as d, interval};
    let tz = interval::report_tz()?;
    let from = interval::parse_time(&args.from, &tz)?.as_millisecond();
    let to = interval::parse_time(&args.to, &tz)?.as_millisecond();
    let rows = crate::store::history::dispositions(db, from, to, args.queue.as_deref()).await?;
    let format = if args.format == Format::Html {
        Format::Table
    } else {
        args.format
    };
    d::render(
        &d::count(&rows),
        &format!("dispositions {} .. {}", args.from, args.to),
        format,
    )
}
