//! The gate's request classes and deadlines: `--priority-header`, `--deadline-header`,
//! `--critical-reserve`.

use std::time::Duration;

use clap::Args;
use floodgate::GateLayer;
use floodgate::gate::Priority;
use http::HeaderName;

use crate::parse;

/// How the gate in front of `/slow`, `/fast` and `/stream` tells requests apart (flattened into
/// [`Config`](crate::Config)): by class, read from a header, and by deadline, read from another
/// header or from gRPC's `grpc-timeout`.
///
/// ```
/// use floodgate_demo::{App, ClassesConfig, Config};
///
/// let app = App::new(&Config::default());
/// let snapshot = app.gate().unwrap().snapshot();
/// assert!(snapshot.priority_classes, "classes from x-priority by default");
/// assert!(snapshot.expected_service_time.is_some(), "deadlines from x-request-timeout-ms");
///
/// let plain = App::new(&Config { classes: ClassesConfig::off(), ..Config::default() });
/// assert!(!plain.gate().unwrap().snapshot().priority_classes);
/// ```
#[derive(Debug, Clone, PartialEq, Args)]
// `std::option::Option`: clap's derive then leaves the `None` of an empty value to the parser.
#[allow(unused_qualifications)]
pub struct ClassesConfig {
    /// The request header that gives a request's class: critical, default or sheddable
    /// (absent or unknown: default). Under pressure the gate serves critical requests first,
    /// lets sheddable ones wait half of --max-wait, and evicts the newest waiter of a lower
    /// class from a full queue. Empty: no classes.
    #[arg(
        long,
        env = "FLOODGATE_PRIORITY_HEADER",
        default_value = "x-priority",
        value_parser = optional_header,
        value_name = "HEADER",
        help_heading = "Admission"
    )]
    pub priority_header: std::option::Option<HeaderName>,

    /// The request header that gives a plain HTTP request's deadline: the client's time left,
    /// in milliseconds (gRPC requests: grpc-timeout). A request that cannot be served before it
    /// is answered 503 at once; the others wait at most their time left minus the expected
    /// service time. Empty: gRPC deadlines only.
    #[arg(
        long,
        env = "FLOODGATE_DEADLINE_HEADER",
        default_value = "x-request-timeout-ms",
        value_parser = optional_header,
        value_name = "HEADER",
        help_heading = "Admission"
    )]
    pub deadline_header: std::option::Option<HeaderName>,

    /// The share of the gate's limit kept for critical requests (0 to 0.9, rounded down to whole
    /// requests): the other classes together hold at most the rest, whatever critical requests
    /// hold.
    #[arg(
        long,
        env = "FLOODGATE_CRITICAL_RESERVE",
        default_value_t = 0.0,
        value_parser = share,
        value_name = "SHARE",
        help_heading = "Admission"
    )]
    pub critical_reserve: f64,

    /// How long a sheddable request may wait for a permit [default: half of --max-wait]; 0s:
    /// sheddable requests never wait, they get a slot at once or 503.
    #[arg(
        long,
        env = "FLOODGATE_SHEDDABLE_MAX_WAIT",
        value_parser = parse::duration,
        value_name = "DURATION",
        help_heading = "Admission"
    )]
    pub sheddable_max_wait: Option<Duration>,
}

impl Default for ClassesConfig {
    /// The flags' defaults: classes from `x-priority`, deadlines from `x-request-timeout-ms`,
    /// nothing reserved.
    fn default() -> Self {
        Self {
            priority_header: Some(HeaderName::from_static("x-priority")),
            deadline_header: Some(HeaderName::from_static("x-request-timeout-ms")),
            critical_reserve: 0.0,
            sheddable_max_wait: None,
        }
    }
}

impl ClassesConfig {
    /// No classes, and no deadlines but gRPC's.
    pub fn off() -> Self {
        Self {
            priority_header: None,
            deadline_header: None,
            critical_reserve: 0.0,
            sheddable_max_wait: None,
        }
    }
}

/// Applies the deadlines and the reserved share of `config` to the gate (the classifier is
/// applied by the caller, from [`ClassesConfig::priority_header`]).
pub(crate) fn configure<R, P, C>(
    layer: GateLayer<R, P, C>,
    config: &ClassesConfig,
) -> GateLayer<R, P, C> {
    let layer = match &config.deadline_header {
        Some(header) => layer.deadline_header(header.clone()),
        None => layer.deadlines(),
    };
    let layer = if config.critical_reserve > 0.0 {
        layer.reserve(Priority::Critical, config.critical_reserve)
    } else {
        layer
    };
    match config.sheddable_max_wait {
        Some(wait) => layer.class_max_wait(Priority::Sheddable, wait),
        None => layer,
    }
}

/// A header name, or nothing for an empty value.
fn optional_header(value: &str) -> Result<Option<HeaderName>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    HeaderName::try_from(value.trim())
        .map(Some)
        .map_err(|_| format!("not a valid header name: {value:?}"))
}

/// A share of the limit, 0 to 0.9.
fn share(value: &str) -> Result<f64, String> {
    let share: f64 = value
        .parse()
        .map_err(|_| format!("not a number: {value:?} (expected a share like 0.125)"))?;
    if !(0.0..=0.9).contains(&share) {
        return Err("must be between 0 and 0.9".to_owned());
    }
    Ok(share)
}
