//! Plain-text report: one aligned table per section (intervals, total, each breakdown).
//! Never does: colours or terminal control codes (the output is piped and mailed).

use super::{sections, COLUMNS};
use crate::report::Report;

pub fn render(r: &Report) -> String {
    let mut out = format!(
        "centrale report {} .. {} by {}{} ({}; tau {} s, T {} s, target {} %)\n",
        r.from,
        r.to,
        r.by.noun(),
        r.queue
            .as_ref()
            .map(|q| format!(", queue {q}"))
            .unwrap_or_default(),
        r.time_zone,
        r.params.short_abandon_ms / 1000,
        r.params.threshold_ms / 1000,
        r.params.target_pct
    );
    for (title, lines) in sections(r) {
        if lines.is_empty() {
            continue;
        }
        let mut rows: Vec<Vec<String>> = vec![std::iter::once(title.to_string())
            .chain(COLUMNS.iter().map(|c| c.header.to_string()))
            .collect()];
        for l in lines {
            rows.push(
                std::iter::once(l.key.clone())
                    .chain(COLUMNS.iter().map(|c| (c.value)(&l.figures)))
                    .collect(),
            );
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        out.push('\n');
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}
