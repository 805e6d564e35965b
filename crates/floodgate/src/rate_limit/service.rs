//! [`RateLimitService`]: the rate limit's admission plugged into the shared middleware skeleton.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Request, Response};

use super::handle::RateLimiter;
use super::headers::{RATELIMIT, RATELIMIT_POLICY};
use super::key::{KeyExtractor, RequestHead};
use super::rejection::Rejection;
use super::state::{Admission as Entered, Admitted, Shared};
use super::wait::Wait;
use crate::middleware::{self, Admission, AdmissionService, Decision, DefaultOnReject, OnReject};

/// The service built by [`RateLimitLayer`](super::RateLimitLayer): takes a token from the
/// request's bucket before calling the inner service.
///
/// A rejected request is answered `Ok(429 response)` (or `400` for a missing key, if so
/// configured) and never reaches the inner service; the error type stays `S::Error`. Waiting
/// happens in the response future, bounded by `max_wait`: `poll_ready` only asks the inner
/// service. `get_ref`, `get_mut` and `into_inner` reach the inner service.
pub type RateLimitService<S, E, R = DefaultOnReject> = AdmissionService<S, RateAdmission<E, R>>;

/// The response body of [`RateLimitService`]: the inner service's body, or the short plain-text
/// message of a default rejection. It holds nothing: a token, once taken, is spent.
pub type ResponseBody<B> = middleware::ResponseBody<B, Infallible>;

/// The rate limit's admission: the part of [`RateLimitService`] that is the rate limit's own.
#[allow(unreachable_pub)]
pub struct RateAdmission<E: KeyExtractor, R> {
    shared: Arc<Shared<E>>,
    on_reject: R,
}

impl<E: KeyExtractor, R> RateAdmission<E, R> {
    pub(crate) fn new(shared: Arc<Shared<E>>, on_reject: R) -> Self {
        Self { shared, on_reject }
    }
}

impl<S, E: KeyExtractor, R> AdmissionService<S, RateAdmission<E, R>> {
    /// A handle to the shared buckets.
    pub fn limiter(&self) -> RateLimiter {
        RateLimiter::new(Arc::clone(&self.admission().shared))
    }
}

impl<E: KeyExtractor, R, ReqBody, ResBody> Admission<ReqBody, ResBody> for RateAdmission<E, R>
where
    R: OnReject<Rejection, ResBody> + Clone,
{
    type Admitted = Admitted;
    type Guard = Infallible;
    type Rejection = Rejection;
    type Wait = Wait;
    type OnReject = R;

    fn admit(&self, request: &Request<ReqBody>) -> Decision<Admitted, Rejection, Wait> {
        let key = if self.shared.is_keyed() {
            match self.shared.bucket_of(&RequestHead::from(request)) {
                Ok(key) => key,
                Err(rejection) => return Decision::Rejected(rejection),
            }
        } else {
            None
        };
        match self.shared.admit(key) {
            Entered::Admitted(admitted) => Decision::Admitted(admitted),
            Entered::Rejected(rejection) => Decision::Rejected(rejection),
            Entered::Wait(ticket) => Decision::Wait(ticket.wait()),
            Entered::Pending(wait) => Decision::Wait(wait),
        }
    }

    fn on_reject(&self) -> &R {
        &self.on_reject
    }

    fn finish(admitted: Admitted, response: Option<&mut Response<ResBody>>) -> Option<Infallible> {
        // `RateLimit-Policy` and `RateLimit`, if admitted responses advertise them.
        if let (Some(response), Some(fields)) = (response, admitted.fields) {
            let [policy, ratelimit]: [HeaderValue; 2] = *fields;
            let headers = response.headers_mut();
            headers.append(RATELIMIT_POLICY, policy);
            headers.append(RATELIMIT, ratelimit);
        }
        None
    }
}

impl<E: KeyExtractor, R: Clone> Clone for RateAdmission<E, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            on_reject: self.on_reject.clone(),
        }
    }
}

impl<E: KeyExtractor, R> std::fmt::Debug for RateAdmission<E, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateAdmission")
            .field("limiter", &self.shared)
            .finish_non_exhaustive()
    }
}
