//! Once a second, the target's `/metrics` (Prometheus text): `floodgate_in_flight` and
//! `floodgate_limit`, for the charts: of the gate named `default` (the library's default name,
//! the demo's request gate) if there is one, else summed over every series. Plain `http://`
//! only; a target without the endpoint or the metrics just gives empty samples.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use floodgate::metrics;
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one scrape found (`None`: the metric was absent or the scrape failed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Gauges {
    /// Seconds since the scraper started.
    pub(crate) t: f64,
    pub(crate) in_flight: Option<f64>,
    pub(crate) limit: Option<f64>,
}

/// A background thread scraping once a second until [`Scraper::stop`].
#[derive(Debug)]
pub(crate) struct Scraper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Gauges>>,
}

impl Scraper {
    /// Starts scraping the origin of `target` + `/metrics`; `None` for a target that is not
    /// plain `http://`.
    pub(crate) fn start(target: &Url) -> Option<Self> {
        if target.scheme() != "http" {
            return None;
        }
        let host = target.host_str()?.to_owned();
        let port = target.port_or_known_default()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return Vec::new();
            };
            runtime.block_on(async move {
                let start = tokio::time::Instant::now();
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut samples = Vec::new();
                loop {
                    tick.tick().await;
                    if flag.load(Ordering::Relaxed) {
                        return samples;
                    }
                    let t = start.elapsed().as_secs_f64();
                    let text = tokio::time::timeout(Duration::from_millis(800), fetch(&host, port))
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    samples.push(Gauges {
                        t,
                        in_flight: gauge(&text, metrics::IN_FLIGHT),
                        limit: gauge(&text, metrics::LIMIT),
                    });
                }
            })
        });
        Some(Self { stop, thread })
    }

    /// Stops the thread and hands back its samples.
    pub(crate) fn stop(self) -> Vec<Gauges> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// `GET /metrics` over HTTP/1.0 (the server closes the connection); the body of a 200, or `None`.
async fn fetch(host: &str, port: u16) -> Option<String> {
    let mut stream = TcpStream::connect((host, port)).await.ok()?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    stream.take(4 << 20).read_to_end(&mut response).await.ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}

/// The Prometheus sample `name` in `text`: the sum of its series labelled `gate="default"`, if
/// any, else the sum over all its label sets (a second gate, such as the demo's stream cap,
/// would otherwise add its limit to the chart).
fn gauge(text: &str, name: &str) -> Option<f64> {
    let mut all = None;
    let mut default_gate = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.chars().next() {
            Some('{') => match rest.rsplit_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            Some(' ') => ("", rest),
            _ => continue,
        };
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        *all.get_or_insert(0.0) += value;
        if labels
            .split(',')
            .any(|label| label.trim_start_matches('{') == "gate=\"default\"")
        {
            *default_gate.get_or_insert(0.0) += value;
        }
    }
    default_gate.or(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gauges_with_and_without_labels() {
        let text = "# HELP floodgate_in_flight x\n# TYPE floodgate_in_flight gauge\n\
                    floodgate_in_flight 3\nfloodgate_in_flight_total 9\n\
                    floodgate_limit{route=\"a\"} 8\nfloodgate_limit{route=\"b\"} 2 1700000000\n";
        assert_eq!(gauge(text, "floodgate_in_flight"), Some(3.0));
        assert_eq!(gauge(text, "floodgate_limit"), Some(10.0));
        assert_eq!(gauge(text, "floodgate_queued"), None);
        assert_eq!(gauge("", "floodgate_limit"), None);
    }

    #[test]
    fn the_default_gate_wins_over_the_others() {
        let text = "floodgate_limit{gate=\"default\"} 8\nfloodgate_limit{gate=\"streams\"} 256\n\
                    floodgate_in_flight{gate=\"streams\"} 2\nfloodgate_in_flight{gate=\"x\"} 1\n";
        assert_eq!(gauge(text, "floodgate_limit"), Some(8.0));
        assert_eq!(
            gauge(text, "floodgate_in_flight"),
            Some(3.0),
            "no default gate: the sum"
        );
    }

    #[test]
    fn no_scraper_for_https() {
        assert!(Scraper::start(&"https://127.0.0.1:1/".parse().unwrap()).is_none());
    }
}
