//! Line charts as inline SVG, drawn by hand: axes with round ticks, one polyline per series,
//! gaps where a series has no value, a legend. No plotting crate, no script, no network.

use std::fmt::Write as _;

/// Width and height of a chart, in SVG user units.
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
/// Plot area margins: left (y labels), right, top (title, legend), bottom (x labels).
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;

/// Colours for series, in order (colour-blind friendly, Okabe–Ito).
pub(crate) const PALETTE: [&str; 8] = [
    "#009e73", "#d55e00", "#0072b2", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442",
];

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: &'static str,
    /// `(x, y)`; `None` for y leaves a gap.
    pub(crate) points: Vec<(f64, Option<f64>)>,
}

/// A chart's words.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Labels<'a> {
    pub(crate) title: &'a str,
    pub(crate) x: &'a str,
    pub(crate) y: &'a str,
}

/// The chart as a standalone `<svg>` element (valid as a file and inline in HTML).
pub(crate) fn line_chart(labels: Labels<'_>, series: &[Series]) -> String {
    let values = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_max) = (1.0_f64, 0.0_f64);
    for &(x, y) in values {
        x_max = x_max.max(x);
        y_max = y_max.max(y.unwrap_or(0.0));
    }
    let y_ticks = ticks(y_max);
    let x_ticks = ticks(x_max);
    let y_top = *y_ticks.last().expect("never empty");
    let x_right = *x_ticks.last().expect("never empty");
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_right * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_top * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/><text x="{LEFT}" y="16" font-size="14" font-weight="bold">{}</text>"#,
        escape(labels.title)
    );
    for &y in &y_ticks {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y1:.1}" y2="{y1:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py(y) + 4.0,
            number(y),
            y1 = py(y),
        );
    }
    for &x in &x_ticks {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            px(x),
            TOP + plot_h + 16.0,
            number(x)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}" stroke="#444"/><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#444"/>"##,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        escape(labels.x),
        TOP + plot_h / 2.0,
        escape(labels.y)
    );
    let mut legend_x = LEFT;
    for s in series {
        let _ = write!(
            svg,
            r#"<rect x="{legend_x:.1}" y="24" width="12" height="4" fill="{}"/><text x="{:.1}" y="30">{}</text>"#,
            s.color,
            legend_x + 16.0,
            escape(&s.name)
        );
        legend_x += 28.0 + 7.0 * s.name.chars().count() as f64;
        for run in s
            .points
            .split(|(_, y)| y.is_none())
            .filter(|r| !r.is_empty())
        {
            let mut points = String::new();
            for &(x, y) in run {
                let _ = write!(points, "{:.1},{:.1} ", px(x), py(y.unwrap_or(0.0)));
            }
            let _ = write!(
                svg,
                r#"<polyline class="series" fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
                s.color,
                points.trim_end()
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Round tick values from 0 to at least `max` (about five of them).
fn ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let count = (max / step).ceil().max(1.0) as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// `1200`, `2.5`, `0.25`: a tick label without trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Escapes text for XML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(640.0), [0.0, 200.0, 400.0, 600.0, 800.0]);
        assert_eq!(ticks(10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0), [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert_eq!(number(0.6000000000000001), "0.6");
        assert_eq!(number(1200.0), "1200");
        assert_eq!(number(2.5), "2.5");
    }

    #[test]
    fn draws_one_polyline_per_unbroken_run() {
        let series = [
            Series {
                name: "2xx <ok>".to_owned(),
                color: PALETTE[0],
                points: vec![
                    (0.0, Some(1.0)),
                    (1.0, None),
                    (2.0, Some(3.0)),
                    (3.0, Some(2.0)),
                ],
            },
            Series {
                name: "none".to_owned(),
                color: PALETTE[1],
                points: vec![(0.0, None)],
            },
        ];
        let labels = Labels {
            title: "t",
            x: "seconds",
            y: "req/s",
        };
        let svg = line_chart(labels, &series);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("2xx &lt;ok&gt;"));
        assert!(!svg.contains("NaN"));
    }
}
