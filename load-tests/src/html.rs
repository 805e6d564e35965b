//! `--report PATH.html`: one self-contained HTML page (inline SVG and CSS, no script, nothing
//! fetched when opened) with the charts of one or more runs over time, drawn from the runs' own
//! per-second samples.

use std::fmt::Write as _;

use crate::chart::{Labels, PALETTE, Series, escape, line_chart};
use crate::report::Report;
use crate::scrape::Gauges;
use crate::stats::Second;

/// One run to chart: its per-second timeline and, when the target had `/metrics`, its gauges.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) name: String,
    pub(crate) timeline: Vec<Second>,
    pub(crate) gauges: Vec<Gauges>,
}

/// A chart in a page: its SVG and a stable file-name stem for `--svg-dir`.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub(crate) stem: String,
    pub(crate) svg: String,
}

/// The charts of one run: requests per second by outcome, success latency percentiles, and
/// in-flight/limit when any gauge was scraped.
pub(crate) fn run_charts(run: &Run) -> Vec<Chart> {
    let stem = slug(&run.name);
    let per_second = |f: fn(&Second) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        run.timeline.iter().map(|s| (s.t as f64, f(s))).collect()
    };
    let series = |name: &str, color, points| Series {
        name: name.to_owned(),
        color,
        points,
    };
    let mut charts = vec![
        Chart {
            stem: format!("{stem}-requests"),
            svg: line_chart(
                Labels {
                    title: &format!("{}: responses per second by outcome", run.name),
                    x: "seconds",
                    y: "per second",
                },
                &[
                    series("2xx", PALETTE[0], per_second(|s| Some(s.success as f64))),
                    series(
                        "503 + 429",
                        PALETTE[1],
                        per_second(|s| Some(s.rejected as f64)),
                    ),
                    series("errors", PALETTE[6], per_second(|s| Some(s.errors as f64))),
                ],
            ),
        },
        Chart {
            stem: format!("{stem}-latency"),
            svg: line_chart(
                Labels {
                    title: &format!("{}: latency of successful requests", run.name),
                    x: "seconds",
                    y: "ms",
                },
                &[
                    series("p50", PALETTE[2], per_second(|s| s.success_p50_ms)),
                    series("p95", PALETTE[5], per_second(|s| s.success_p95_ms)),
                    series("p99", PALETTE[4], per_second(|s| s.success_p99_ms)),
                ],
            ),
        },
    ];
    if run
        .gauges
        .iter()
        .any(|g| g.in_flight.is_some() || g.limit.is_some())
    {
        let gauge = |f: fn(&Gauges) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
            run.gauges.iter().map(|g| (g.t, f(g))).collect()
        };
        charts.push(Chart {
            stem: format!("{stem}-in-flight"),
            svg: line_chart(
                Labels {
                    title: &format!("{}: server in flight and limit (/metrics)", run.name),
                    x: "seconds",
                    y: "requests",
                },
                &[
                    series("in flight", PALETTE[3], gauge(|g| g.in_flight)),
                    series("limit", PALETTE[6], gauge(|g| g.limit)),
                ],
            ),
        });
    }
    charts
}

/// Charts that put every run on the same axes: goodput and success p99 per second.
pub(crate) fn comparison_charts(runs: &[Run]) -> Vec<Chart> {
    let by_run = |f: fn(&Second) -> Option<f64>| -> Vec<Series> {
        runs.iter()
            .zip(PALETTE.iter().cycle())
            .map(|(run, color)| Series {
                name: run.name.clone(),
                color,
                points: run.timeline.iter().map(|s| (s.t as f64, f(s))).collect(),
            })
            .collect()
    };
    vec![
        Chart {
            stem: "goodput".to_owned(),
            svg: line_chart(
                Labels {
                    title: "Goodput: successful responses per second",
                    x: "seconds",
                    y: "2xx per second",
                },
                &by_run(|s| Some(s.success as f64)),
            ),
        },
        Chart {
            stem: "success-p99".to_owned(),
            svg: line_chart(
                Labels {
                    title: "p99 latency of successful requests, per second",
                    x: "seconds",
                    y: "ms",
                },
                &by_run(|s| s.success_p99_ms),
            ),
        },
    ]
}

/// The whole page: a title, optional text and table (already HTML), and sections of charts.
pub(crate) fn page(title: &str, intro_html: &str, sections: &[(String, Vec<Chart>)]) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{intro_html}\n",
        title = escape(title)
    );
    for (heading, charts) in sections {
        let _ = writeln!(html, "<section>\n<h2>{}</h2>", escape(heading));
        for chart in charts {
            let _ = writeln!(html, "<figure>{}</figure>", chart.svg);
        }
        html.push_str("</section>\n");
    }
    html.push_str(
        "<footer>Drawn by floodgate-load from the run's own per-second samples; latencies of a \
         second are the requests that completed in it (percentiles within about 10%).</footer>\n\
         </body>\n</html>\n",
    );
    html
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:800px;color:#222}\
figure{margin:1em 0}svg{max-width:100%;height:auto}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}\
th:first-child,td:first-child{text-align:left}footer{color:#777;font-size:12px;margin-top:2em}";

/// `--report` of a plain load test: the run's charts and a line of its figures.
pub(crate) fn write_run_page(
    path: &std::path::Path,
    report: &Report,
    gauges: Vec<Gauges>,
) -> std::io::Result<()> {
    let run = Run {
        name: report.url.clone(),
        timeline: report.timeline.clone(),
        gauges,
    };
    let figure = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
    let intro = format!(
        "<p>{} loop, {} engine, {:.1} s: {} requests, {:.1} req/s, {:.1} 2xx/s, {} rejected \
         (503/429), {} errors; successes p50 {}, p95 {}, p99 {}.</p>",
        match report.mode {
            crate::report::ModeName::Open => "Open",
            crate::report::ModeName::Closed => "Closed",
        },
        escape(&report.engine),
        report.duration_s,
        report.requests,
        report.rps,
        report.success_rps,
        report.rejected(),
        report.errors.total(),
        figure(report.success_latency_ms.p50),
        figure(report.success_latency_ms.p95),
        figure(report.success_latency_ms.p99),
    );
    let sections = [("Over time".to_owned(), run_charts(&run))];
    std::fs::write(
        path,
        page(
            &format!("floodgate-load: {}", report.url),
            &intro,
            &sections,
        ),
    )
}

/// `gate, 50 ms` → `gate-50-ms`: a file-name stem.
pub(crate) fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, gauges: bool) -> Run {
        Run {
            name: name.to_owned(),
            timeline: (0..3)
                .map(|t| Second {
                    t,
                    requests: 10,
                    success: 8,
                    rejected: 2,
                    success_p50_ms: Some(50.0),
                    success_p99_ms: Some(90.0),
                    ..Second::default()
                })
                .collect(),
            gauges: if gauges {
                vec![Gauges {
                    t: 1.0,
                    in_flight: Some(8.0),
                    limit: Some(8.0),
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn a_page_is_self_contained() {
        let runs = [run("gate", true), run("tower <shed>", false)];
        let mut sections = vec![("Compared".to_owned(), comparison_charts(&runs))];
        sections.extend(runs.iter().map(|r| (r.name.clone(), run_charts(r))));
        let html = page("Scenario <x>", "<p>intro</p>", &sections);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>Scenario &lt;x&gt;</title>"));
        assert_eq!(html.matches("<svg").count(), 2 + 3 + 2, "{html}");
        assert!(html.contains("in flight and limit"));
        assert!(html.contains("tower &lt;shed&gt;"));
        for reference in ["src=", "href=", "url(", "@import", "<script", "<link"] {
            assert!(!html.contains(reference), "{reference} in the page");
        }
        // The only URL is the SVG namespace, which is a name and is never fetched.
        let urls = html.matches("http://").count() + html.matches("https://").count();
        assert_eq!(
            urls,
            html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(slug("gate, 50 ms wait"), "gate-50-ms-wait");
        assert_eq!(slug("tower-shed"), "tower-shed");
        assert_eq!(slug("--x--"), "x");
    }
}
