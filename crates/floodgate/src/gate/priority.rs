//! Priority classes: how much a request matters, and who decides it.

use std::fmt;
use std::str::FromStr;

use http::{HeaderName, Request};

/// How much a request matters when the gate is full: the request classes of Google's
/// "criticality" (SRE book, "Handling Overload") and of Netflix's partitioned limits.
///
/// Under pressure, a gate serves its waiters highest class first (the queue discipline orders
/// each class); a full queue makes room for a newcomer by evicting the newest waiter of a lower
/// class ([`Reason::Evicted`](super::Reason::Evicted)); a share of the limit can be kept for the
/// higher classes ([`GateConfig::reserve`](super::GateConfig::reserve)); and a standing queue
/// (LIFO, CoDel) sheds the lowest class that waits, never a higher one while a lower one waits.
/// A request nobody classified is [`Priority::Default`].
///
/// ```
/// use floodgate::gate::Priority;
///
/// assert!(Priority::Critical > Priority::Default);
/// assert_eq!("sheddable".parse::<Priority>(), Ok(Priority::Sheddable));
/// assert_eq!(Priority::default().as_str(), "default");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Can be dropped first: prefetches, batch work, retries, speculative requests.
    Sheddable,
    /// Ordinary traffic (every request nobody classified).
    #[default]
    Default,
    /// Must get through: a checkout, a write, the load balancer's health probe.
    Critical,
}

impl Priority {
    /// Every class, highest first (the order in which waiters are served).
    pub const ALL: [Priority; 3] = [Priority::Critical, Priority::Default, Priority::Sheddable];

    /// The class as a label: `critical`, `default` or `sheddable` (the `class` label of the
    /// metrics, and the values [`PriorityHeader`] reads).
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::Default => "default",
            Priority::Sheddable => "sheddable",
        }
    }

    /// The position of the class in [`Priority::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            Priority::Critical => 0,
            Priority::Default => 1,
            Priority::Sheddable => 2,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;

    /// Parses `critical`, `default` or `sheddable` (any case).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|priority| priority.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!("unknown priority `{name}`: expected critical, default or sheddable")
            })
    }
}

/// Gives each request its [`Priority`]; see [`GateLayer::classify`](super::GateLayer::classify).
///
/// Implemented by [`ExtensionPriority`] (the default), [`PriorityHeader`], and every closure
/// `Fn(&Request<B>) -> Priority`, which can look at anything: the route, a header, an
/// extension an authentication layer inserted.
pub trait Classify<B> {
    /// The class of `request`.
    fn classify(&self, request: &Request<B>) -> Priority;
}

impl<B, F> Classify<B> for F
where
    F: Fn(&Request<B>) -> Priority,
{
    fn classify(&self, request: &Request<B>) -> Priority {
        self(request)
    }
}

/// The default classifier: the [`Priority`] a layer before the gate put in the request's
/// extensions (`request.extensions_mut().insert(Priority::Critical)`), else
/// [`Priority::Default`]. It trusts nothing the client sent.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct ExtensionPriority;

impl<B> Classify<B> for ExtensionPriority {
    #[inline]
    fn classify(&self, request: &Request<B>) -> Priority {
        request
            .extensions()
            .get::<Priority>()
            .copied()
            .unwrap_or_default()
    }
}

/// Reads the class from a request header, `critical`, `default` or `sheddable` (any case);
/// without it, or with another value, the class in the request's extensions, else
/// [`Priority::Default`].
///
/// The client chooses its own class: use it where clients are your own services (behind a
/// gateway that strips the header from outside traffic), or let only `sheddable` through from
/// the rest.
///
/// ```
/// use floodgate::GateLayer;
/// use floodgate::gate::PriorityHeader;
///
/// let gate = GateLayer::new(64).classify(PriorityHeader::from_static("x-priority"));
/// # let _ = gate;
/// ```
#[derive(Debug, Clone)]
pub struct PriorityHeader {
    name: HeaderName,
}

impl PriorityHeader {
    /// Reads header `name`.
    pub fn new(name: HeaderName) -> Self {
        Self { name }
    }

    /// Reads header `name`, a lowercase constant.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid lowercase header name (as [`HeaderName::from_static`]).
    pub fn from_static(name: &'static str) -> Self {
        Self::new(HeaderName::from_static(name))
    }

    /// The header read.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
}

impl<B> Classify<B> for PriorityHeader {
    fn classify(&self, request: &Request<B>) -> Priority {
        request
            .headers()
            .get(&self.name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| ExtensionPriority.classify(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(header: Option<&str>, extension: Option<Priority>) -> Request<()> {
        let mut request = Request::builder();
        if let Some(value) = header {
            request = request.header("x-priority", value);
        }
        let mut request = request.body(()).unwrap();
        if let Some(priority) = extension {
            request.extensions_mut().insert(priority);
        }
        request
    }

    #[test]
    fn classes_are_ordered_and_named() {
        assert!(Priority::Critical > Priority::Default && Priority::Default > Priority::Sheddable);
        for priority in Priority::ALL {
            assert_eq!(priority.as_str().parse(), Ok(priority));
            assert_eq!(Priority::ALL[priority.index()], priority);
        }
        assert_eq!("CRITICAL".parse(), Ok(Priority::Critical));
        assert!("urgent".parse::<Priority>().unwrap_err().contains("urgent"));
    }

    #[test]
    fn the_header_wins_then_the_extension_then_default() {
        let header = PriorityHeader::from_static("x-priority");
        let classify = |h, e| header.classify(&request(h, e));
        assert_eq!(classify(Some(" Critical "), None), Priority::Critical);
        assert_eq!(
            classify(Some("sheddable"), Some(Priority::Critical)),
            Priority::Sheddable
        );
        assert_eq!(
            classify(Some("urgent"), Some(Priority::Critical)),
            Priority::Critical,
            "an unknown value falls back"
        );
        assert_eq!(classify(None, None), Priority::Default);
        assert_eq!(
            ExtensionPriority.classify(&request(Some("critical"), None)),
            Priority::Default,
            "the default classifier does not read headers"
        );
    }
}
