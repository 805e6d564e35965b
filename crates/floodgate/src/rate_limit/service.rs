use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::body::RateLimitBody;
use super::future::RateLimitFuture;
use super::handle::RateLimiter;
use super::key::{KeyExtractor, RequestHead};
use super::limiter::{Admission, Shared};
use super::reject::OnRateLimited;

/// The service built by [`RateLimitLayer`](crate::RateLimitLayer): takes a token from the
/// request's bucket before calling the inner service.
///
/// A rejected request is answered `Ok(429 response)` (or `400` for a missing key, if so
/// configured) and never reaches the inner service; the error type stays `S::Error`. Waiting
/// happens in the response future, bounded by `max_wait`: `poll_ready` only asks the inner
/// service.
pub struct RateLimitService<S, E: KeyExtractor, R> {
    inner: S,
    shared: Arc<Shared<E>>,
    on_reject: R,
}

impl<S, E: KeyExtractor, R> RateLimitService<S, E, R> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<E>>, on_reject: R) -> Self {
        Self {
            inner,
            shared,
            on_reject,
        }
    }

    /// A handle to the shared buckets.
    pub fn limiter(&self) -> RateLimiter {
        RateLimiter::new(Arc::clone(&self.shared))
    }

    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, E, R, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimitService<S, E, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    E: KeyExtractor,
    R: OnRateLimited<ResBody> + Clone,
{
    type Response = Response<RateLimitBody<ResBody>>;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future, S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let key = if self.shared.is_keyed() {
            match self.shared.bucket_of(&RequestHead::from(&request)) {
                Ok(key) => key,
                Err(rejection) => {
                    return RateLimitFuture::rejected(rejection, self.on_reject.clone());
                }
            }
        } else {
            None
        };
        match self.shared.admit(key) {
            Admission::Admitted(admitted) => {
                RateLimitFuture::called(self.inner.call(request), admitted.fields)
            }
            Admission::Rejected(rejection) => {
                RateLimitFuture::rejected(rejection, self.on_reject.clone())
            }
            Admission::Wait(ticket) => {
                // The ready service goes into the future; a fresh clone takes its place here.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                RateLimitFuture::waiting(ticket.wait(), ready, request, self.on_reject.clone())
            }
        }
    }
}

impl<S: Clone, E: KeyExtractor, R: Clone> Clone for RateLimitService<S, E, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
            on_reject: self.on_reject.clone(),
        }
    }
}

impl<S: std::fmt::Debug, E: KeyExtractor, R> std::fmt::Debug for RateLimitService<S, E, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.shared)
            .finish_non_exhaustive()
    }
}
