//! The `RateLimit-Policy` and `RateLimit` header fields (draft-ietf-httpapi-ratelimit-headers).
//!
//! Both are structured-field lists (RFC 9651) of items named by a string, the policy name:
//!
//! ```text
//! RateLimit-Policy: "default";q=50;w=1
//! RateLimit: "default";r=0;t=1
//! ```
//!
//! `q` and `w`: the steady rate, `q` requests per `w` seconds. `r`: the requests the client may
//! send now (tokens in its bucket). `t`: seconds within which no more than `r` are available: on
//! a rejection, the wait for the next token (the same value as `Retry-After`); on an admitted
//! response, the emission interval rounded up, the longest the next token can take.

use std::fmt::Write;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::quota::Quota;
use crate::middleware::respond::retry_after_secs;

/// The `RateLimit-Policy` header name.
pub(crate) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` header name.
pub(crate) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The parts of the fields that are fixed for a limiter, formatted once.
#[derive(Debug)]
pub(crate) struct Fields {
    /// The policy name as a structured-field string, quotes included.
    name: String,
    policy: HeaderValue,
    /// `t` on admitted responses.
    next_token_secs: u64,
}

impl Fields {
    pub(crate) fn new(quota: &Quota) -> Self {
        let name = sf_string(quota.name());
        let (q, w) = quota.policy_quota_and_window();
        let policy = HeaderValue::try_from(format!("{name};q={q};w={w}"))
            .expect("a structured-field string and integers are a valid header value");
        Self {
            name,
            policy,
            next_token_secs: retry_after_secs(quota.emission_interval()),
        }
    }

    /// The `RateLimit-Policy` value.
    pub(crate) fn policy(&self) -> HeaderValue {
        self.policy.clone()
    }

    /// The `RateLimit` value: `remaining` requests now, for the next `t` seconds.
    pub(crate) fn ratelimit(&self, remaining: u64, t: u64) -> HeaderValue {
        let mut value = String::with_capacity(self.name.len() + 24);
        value.push_str(&self.name);
        write!(value, ";r={remaining};t={t}").expect("writing to a String cannot fail");
        HeaderValue::try_from(value)
            .expect("a structured-field string and integers are a valid header value")
    }

    /// The `RateLimit` value of an admitted response that left `remaining` tokens.
    pub(crate) fn admitted(&self, remaining: u32) -> HeaderValue {
        self.ratelimit(remaining.into(), self.next_token_secs)
    }

    /// The `RateLimit` value of a rejection whose next token comes after `wait`.
    pub(crate) fn rejected(&self, wait: Duration) -> HeaderValue {
        self.ratelimit(0, retry_after_secs(wait))
    }
}

/// A structured-field string (RFC 9651 section 4.1.6): quoted, `\` and `"` escaped. The caller
/// ensures printable ASCII.
fn sf_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_field_matches_the_draft_syntax() {
        let fields = Fields::new(&Quota::per_minute(100));
        assert_eq!(fields.policy(), r#""default";q=100;w=60"#);
        let fields = Fields::new(&Quota::per_second(50).burst(10).named("api"));
        assert_eq!(fields.policy(), r#""api";q=50;w=1"#);
    }

    #[test]
    fn ratelimit_field_matches_the_draft_syntax() {
        let fields = Fields::new(&Quota::per_second(50));
        assert_eq!(
            fields.rejected(Duration::from_millis(20)),
            r#""default";r=0;t=1"#
        );
        assert_eq!(
            fields.rejected(Duration::from_millis(2001)),
            r#""default";r=0;t=3"#
        );
        assert_eq!(fields.admitted(9), r#""default";r=9;t=1"#);
        let slow = Fields::new(&Quota::per_minute(2));
        assert_eq!(slow.admitted(0), r#""default";r=0;t=30"#);
    }

    #[test]
    fn names_are_escaped_strings() {
        assert_eq!(sf_string(r#"a"b\c"#), r#""a\"b\\c""#);
        let fields = Fields::new(&Quota::per_second(1).named(r#"say "hi""#));
        assert_eq!(fields.policy(), r#""say \"hi\"";q=1;w=1"#);
    }
}
