//! The chart supervisors look at: bars for calls per interval (left axis), a line for the
//! service level per interval (right axis, 0–100 %) and a dashed line at the SL target. Pure
//! SVG, inlined in a self-contained HTML page with the report tables: no script, no external
//! asset, so it opens from a mail attachment.
//!
//! Never does: compute figures (it draws `Figures`) or load fonts.

use std::fmt::Write as _;

use super::{sections, COLUMNS};
use crate::report::Report;

const W: f64 = 1000.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 50.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round axis maximum at or above `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * p)
}

/// The chart alone, as an SVG document.
pub fn svg(r: &Report) -> String {
    let n = r.intervals.len().max(1) as f64;
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let max_calls = r
        .intervals
        .iter()
        .map(|l| l.figures.calls)
        .max()
        .unwrap_or(0) as f64;
    let ymax = nice_max(max_calls);
    let bw = pw / n;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"##
    );
    let _ = write!(
        s,
        r##"<title>Calls and service level</title><rect width="{W}" height="{H}" fill="#fff"/>"##
    );
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="20" font-size="14">Calls per {} (bars) and service level within {} s (line); target {} % (dashed)</text>"##,
        r.by.noun(),
        r.params.threshold_ms / 1000,
        r.params.target_pct
    );
    // Axes and grid.
    for k in 0..=4 {
        let y = TOP + ph - ph * f64::from(k) / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}">{} %</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            (ymax * f64::from(k) / 4.0).round(),
            LEFT + pw + 6.0,
            y + 4.0,
            25 * k
        );
    }
    // Bars.
    s.push_str(r##"<g fill="#4a7ab5">"##);
    for (i, l) in r.intervals.iter().enumerate() {
        let h = ph * l.figures.calls as f64 / ymax;
        if h <= 0.0 {
            continue;
        }
        let _ = write!(
            s,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}"><title>{}: {} calls</title></rect>"##,
            LEFT + bw * i as f64 + bw * 0.1,
            TOP + ph - h,
            (bw * 0.8).max(0.2),
            h,
            escape(&l.key),
            l.figures.calls
        );
    }
    s.push_str("</g>");
    // Target line.
    let ty = TOP + ph - ph * r.params.target_pct.clamp(0.0, 100.0) / 100.0;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#c0392b" stroke-dasharray="6 4"/>"##,
        LEFT + pw
    );
    // SL line: broken where an interval has no offered calls.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, l) in r.intervals.iter().enumerate() {
        match l.figures.service_level_pct {
            Some(sl) => {
                let x = LEFT + bw * (i as f64 + 0.5);
                let y = TOP + ph - ph * sl.clamp(0.0, 100.0) / 100.0;
                let _ = write!(path, "{}{x:.2},{y:.2} ", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(
            s,
            r##"<path d="{}" fill="none" stroke="#e67e22" stroke-width="2"/>"##,
            path.trim_end()
        );
    }
    // A few interval labels along the bottom.
    // About 150 px per label, so long ones ("2027-03-09 08:00-05:00") do not overlap.
    let step = ((r.intervals.len() as f64 * 150.0 / pw).ceil() as usize).max(1);
    for (i, l) in r.intervals.iter().enumerate().step_by(step) {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            LEFT + bw * (i as f64 + 0.5),
            TOP + ph + 16.0,
            escape(&l.key)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A self-contained page: the chart, then every section as a table.
pub fn html(r: &Report) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>centrale report</title>\
         <style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:12px}\
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child,th:first-child{text-align:left}\
         </style></head><body>\n",
    );
    let _ = writeln!(
        s,
        "<h1>Calls {} .. {}{}</h1><p>{} — tau {} s, T {} s, target {} %</p>",
        escape(&r.from),
        escape(&r.to),
        r.queue
            .as_ref()
            .map(|q| format!(" — queue {}", escape(q)))
            .unwrap_or_default(),
        r.time_zone,
        r.params.short_abandon_ms / 1000,
        r.params.threshold_ms / 1000,
        r.params.target_pct
    );
    s.push_str(&svg(r));
    for (title, lines) in sections(r) {
        if lines.is_empty() {
            continue;
        }
        let _ = write!(s, "<h2>{title}</h2><table><tr><th>{title}</th>");
        for c in COLUMNS {
            let _ = write!(s, "<th>{}</th>", c.header);
        }
        s.push_str("</tr>\n");
        for l in lines {
            let _ = write!(s, "<tr><td>{}</td>", escape(&l.key));
            for c in COLUMNS {
                let _ = write!(s, "<td>{}</td>", (c.value)(&l.figures));
            }
            s.push_str("</tr>\n");
        }
        s.push_str("</table>\n");
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(240.0), 250.0);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
