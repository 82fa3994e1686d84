//! Report output: aligned text table, CSV, JSON, and an HTML page or bare SVG with the chart.
//!
//! Owns: the column list shared by table and CSV, number formatting. Never does: compute a
//! figure (everything comes from `metrics::Figures`).

pub mod chart;
pub mod csv;
pub mod table;

use super::metrics::Figures;
use super::{Format, Report};

/// A report column: header and value (`-` when a ratio has no denominator).
pub struct Column {
    pub header: &'static str,
    pub value: fn(&Figures) -> String,
}

fn int(v: i64) -> String {
    v.to_string()
}

fn opt1(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"))
}

fn opt2(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"))
}

/// The columns of every line, in order.
pub const COLUMNS: &[Column] = &[
    Column {
        header: "calls",
        value: |f| int(f.calls),
    },
    Column {
        header: "offered",
        value: |f| int(f.offered),
    },
    Column {
        header: "answered",
        value: |f| int(f.answered),
    },
    Column {
        header: "abandoned",
        value: |f| int(f.abandoned),
    },
    Column {
        header: "short_ab",
        value: |f| int(f.short_abandons),
    },
    Column {
        header: "flow_out",
        value: |f| int(f.flow_outs),
    },
    Column {
        header: "sl_pct",
        value: |f| opt1(f.service_level_pct),
    },
    Column {
        header: "aband_pct",
        value: |f| opt1(f.abandon_pct),
    },
    Column {
        header: "asa_s",
        value: |f| opt1(f.asa_s),
    },
    Column {
        header: "max_wait_s",
        value: |f| format!("{:.0}", f.longest_wait_s),
    },
    Column {
        header: "aht_s",
        value: |f| opt1(f.aht_s),
    },
    Column {
        header: "agent_h",
        value: |f| opt2(f.agent_hours),
    },
    Column {
        header: "calls_per_agent_h",
        value: |f| opt2(f.calls_per_agent_hour),
    },
    Column {
        header: "occupancy_pct",
        value: |f| opt1(f.occupancy_pct),
    },
    Column {
        header: "self_served",
        value: |f| int(f.self_served),
    },
    Column {
        header: "after_hours",
        value: |f| int(f.after_hours),
    },
    Column {
        header: "redir_911",
        value: |f| int(f.redirected_911),
    },
    Column {
        header: "redir_811",
        value: |f| int(f.redirected_811),
    },
    Column {
        header: "redir_other",
        value: |f| int(f.redirected_other),
    },
    Column {
        header: "callbacks",
        value: |f| int(f.callbacks),
    },
    Column {
        header: "ivr_abandoned",
        value: |f| int(f.abandoned_in_ivr),
    },
    Column {
        header: "queued",
        value: |f| int(f.queued),
    },
];

/// The sections of a report in output order: (title, lines).
pub fn sections(r: &Report) -> Vec<(&'static str, Vec<&super::Line>)> {
    let mut v = vec![("interval", r.intervals.iter().collect::<Vec<_>>())];
    v.push(("total", vec![&r.total]));
    v.push(("queue", r.by_queue.iter().collect()));
    v.push(("language", r.by_language.iter().collect()));
    v.push(("topic", r.by_topic.iter().collect()));
    v.push(("agent", r.by_agent.iter().collect()));
    v
}

pub fn render(r: &Report, f: Format) -> anyhow::Result<String> {
    Ok(match f {
        Format::Table => table::render(r),
        Format::Csv => csv::render(r),
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Html => chart::html(r),
        Format::Svg => chart::svg(r),
    })
}
