//! The report's chart is a web page supervisors open in a browser: render it in headless
//! Chromium and check what the browser laid out (bars per interval, the service-level line,
//! the tables), not just the markup we wrote.

mod common;

use std::process::Command;

use common::centrale_cli;

/// Measures the laid-out page from inside the browser, into `<pre id="probe">` (read back with
/// `--dump-dom`). The first `rect` is the chart's background.
const PROBE: &str = r#"<script>
(function () {
  const svg = document.querySelector('svg');
  const r = svg.getBoundingClientRect();
  const bars = Array.from(svg.querySelectorAll('rect')).slice(1)
    .map(e => e.getBBox()).filter(b => b.width > 0 && b.height > 0);
  const line = svg.querySelector('path');
  const lb = line ? line.getBBox() : { width: 0, height: 0 };
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    svg_w: r.width, svg_h: r.height, bars: bars.length,
    line_w: lb.width, tables: document.querySelectorAll('table').length,
    title: document.querySelector('h1').textContent
  });
  document.body.appendChild(out);
})();
</script></body>"#;

#[test]
fn report_chart_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("log.db").display());
    centrale_cli(&[
        "seed",
        "--database",
        &db,
        "--calls",
        "3000",
        "--from",
        "2027-03-01",
        "--days",
        "14",
    ]);
    let html = centrale_cli(&[
        "report",
        "--database",
        &db,
        "--from",
        "2027-03-01",
        "--to",
        "2027-03-15",
        "--by",
        "day",
        "--format",
        "html",
    ]);
    assert!(html.contains("</body>"), "{html}");
    let page = dir.path().join("report.html");
    std::fs::write(&page, html.replacen("</body>", PROBE, 1)).unwrap();

    let profile = dir.path().join("chromium-profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/test installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| {
            panic!(
                "no probe output; chromium said: {}\n{dom}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    eprintln!("laid out: {v}");
    assert!(v["svg_w"].as_f64().unwrap() > 300.0, "{v}");
    assert!(v["svg_h"].as_f64().unwrap() > 100.0, "{v}");
    // One bar per day that had calls (the seed spreads 3 000 calls over the 14 days).
    let bars = v["bars"].as_u64().unwrap();
    assert!((10..=14).contains(&bars), "{v}");
    assert!(
        v["line_w"].as_f64().unwrap() > 100.0,
        "service-level line drawn: {v}"
    );
    // Intervals, total, and the breakdowns.
    assert!(v["tables"].as_u64().unwrap() >= 3, "{v}");
    assert!(v["title"].as_str().unwrap().contains("2027-03-01"), "{v}");
}
