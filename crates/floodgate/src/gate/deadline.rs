//! Deadlines: when a request's client stops waiting for its answer, read from the request, and
//! how long the gate's requests take to serve, learned from the admitted ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, HeaderName, Request};
use tokio::time::Instant;

use crate::middleware::respond::is_grpc;

/// When the client stops waiting for a request's answer: an instant, as a request extension.
///
/// A gate that reads deadlines ([`GateConfig::deadlines`](super::GateConfig::deadlines)) takes
/// it from this extension, if a layer before the gate put one there (from its own propagation
/// header, say), or else from the request's `grpc-timeout` (gRPC requests) or the configured
/// header ([`GateConfig::deadline_header`](super::GateConfig::deadline_header)).
///
/// ```
/// use std::time::Duration;
/// use floodgate::gate::Deadline;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(Deadline::after(Duration::from_millis(250)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline at `instant`.
    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// A deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        // A timeout too large to add is no deadline worth keeping: the far future.
        Self(now.checked_add(timeout).unwrap_or(now + FAR_FUTURE))
    }

    /// The instant.
    pub fn instant(&self) -> Instant {
        self.0
    }
}

/// Thirty years: later than any deadline a client means.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The gRPC deadline header.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The deadline a request carries: its [`Deadline`] extension, its `grpc-timeout` (gRPC
/// requests), or `header`, whole milliseconds. Unparsable values are ignored.
pub(crate) fn of_request<B>(request: &Request<B>, header: Option<&HeaderName>) -> Option<Deadline> {
    if let Some(deadline) = request.extensions().get::<Deadline>() {
        return Some(*deadline);
    }
    let headers = request.headers();
    let timeout = if is_grpc(headers) {
        value(headers, &GRPC_TIMEOUT).and_then(parse_grpc_timeout)
    } else {
        header
            .and_then(|name| value(headers, name))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
    }?;
    Some(Deadline::after(timeout))
}

fn value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Parses gRPC's `Timeout`: at most 8 digits and a unit, `H`, `M`, `S`, `m`, `u` or `n`
/// (the gRPC-over-HTTP/2 spec).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(count * 3600),
        'M' => Duration::from_secs(count * 60),
        'S' => Duration::from_secs(count),
        'm' => Duration::from_millis(count),
        'u' => Duration::from_micros(count),
        'n' => Duration::from_nanos(count),
        _ => return None,
    })
}

/// The expected service time of admitted requests: an exponentially weighted moving average
/// (weight 1/8 per request) of the time from admission to the permit's return, lock-free.
/// Zero until the first request is measured.
#[derive(Debug, Default)]
pub(crate) struct ServiceTime {
    nanos: AtomicU64,
}

impl ServiceTime {
    /// Learns from one admitted request that took `took`.
    pub(crate) fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // A lost update under a race is one sample fewer in an average: no harm.
        let old = self.nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            // old + (sample - old) / 8, in i128 so that nothing overflows.
            let next = i128::from(old) + (i128::from(sample) - i128::from(old)) / 8;
            u64::try_from(next.max(1)).unwrap_or(u64::MAX)
        };
        self.nanos.store(new, Ordering::Relaxed);
    }

    /// The expected service time now.
    pub(crate) fn expected(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_spec_says() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "m", "100", "100x", "123456789m", "-1m", "1.5S", "10é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_carries_its_deadline_in_one_of_three_places() {
        let header = HeaderName::from_static("x-request-timeout-ms");
        let now = Instant::now();
        let plain = Request::get("/")
            .header("x-request-timeout-ms", " 250 ")
            .body(())
            .unwrap();
        assert_eq!(
            of_request(&plain, Some(&header)),
            Some(Deadline::at(now + Duration::from_millis(250)))
        );
        assert_eq!(of_request(&plain, None), None, "no header configured");
        let garbage = Request::get("/")
            .header("x-request-timeout-ms", "soon")
            .body(())
            .unwrap();
        assert_eq!(of_request(&garbage, Some(&header)), None);

        let grpc = Request::post("/svc/Method")
            .header("content-type", "application/grpc")
            .header("grpc-timeout", "40m")
            .header("x-request-timeout-ms", "1000")
            .body(())
            .unwrap();
        assert_eq!(
            of_request(&grpc, Some(&header)),
            Some(Deadline::at(now + Duration::from_millis(40))),
            "a gRPC request's deadline is its grpc-timeout"
        );

        let mut extension = plain;
        let set = Deadline::at(now + Duration::from_secs(5));
        extension.extensions_mut().insert(set);
        assert_eq!(
            of_request(&extension, Some(&header)),
            Some(set),
            "the extension wins"
        );
    }

    #[test]
    fn the_service_time_follows_recent_requests() {
        let time = ServiceTime::default();
        assert_eq!(time.expected(), Duration::ZERO);
        time.record(Duration::from_millis(80));
        assert_eq!(time.expected(), Duration::from_millis(80));
        for _ in 0..100 {
            time.record(Duration::from_millis(40));
        }
        let expected = time.expected();
        assert!(
            expected > Duration::from_millis(39) && expected < Duration::from_millis(41),
            "{expected:?}"
        );
    }
}
