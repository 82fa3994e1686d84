//! CSV report: one header, then every line of every section, told apart by the first two
//! columns (`section`, `key`). Never does: locale-dependent number formats (always `.`).

use super::{sections, COLUMNS};
use crate::report::Report;

/// Quote a field when it holds a separator, quote or newline.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::from("section,key,start_ms,end_ms");
    for c in COLUMNS {
        out.push(',');
        out.push_str(c.header);
    }
    out.push('\n');
    for (title, lines) in sections(r) {
        for l in lines {
            out.push_str(title);
            out.push(',');
            out.push_str(&field(&l.key));
            for v in [l.start_ms, l.end_ms] {
                out.push(',');
                out.push_str(&v.map(|x| x.to_string()).unwrap_or_default());
            }
            for c in COLUMNS {
                out.push(',');
                out.push_str(&field(&(c.value)(&l.figures)));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn quoting() {
        assert_eq!(field("a"), "a");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
