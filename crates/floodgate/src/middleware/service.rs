use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::body::GateBody;
use super::future::ResponseFuture;
use super::reject::{Bypass, OnReject};
use crate::Gate;
use crate::gate::Admission;

/// The service built by [`GateLayer`](crate::GateLayer): admits each request through a shared
/// [`Gate`] before calling the inner service.
///
/// A rejected request is answered `Ok(503 response)` and never reaches the inner service; the
/// error type stays `S::Error`. Waiting happens in the response future, bounded by `max_wait`:
/// `poll_ready` only asks the inner service.
#[derive(Debug, Clone)]
pub struct GateService<S, R, P> {
    inner: S,
    gate: Gate,
    on_reject: R,
    bypass: P,
    dropped_when: fn(StatusCode) -> bool,
}

impl<S, R, P> GateService<S, R, P> {
    pub(crate) fn new(
        inner: S,
        gate: Gate,
        on_reject: R,
        bypass: P,
        dropped_when: fn(StatusCode) -> bool,
    ) -> Self {
        Self {
            inner,
            gate,
            on_reject,
            bypass,
            dropped_when,
        }
    }

    /// The shared gate.
    pub fn gate(&self) -> &Gate {
        &self.gate
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

impl<S, R, P, ReqBody, ResBody> Service<Request<ReqBody>> for GateService<S, R, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: OnReject<ResBody> + Clone,
    P: Bypass<ReqBody>,
{
    type Response = Response<GateBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if self.bypass.bypass(&request) {
            return ResponseFuture::called(self.inner.call(request), None, self.dropped_when);
        }
        match self.gate.admit() {
            Admission::Admitted(permit) => {
                ResponseFuture::called(self.inner.call(request), Some(permit), self.dropped_when)
            }
            Admission::Rejected(rejection) => {
                ResponseFuture::rejected(rejection, self.on_reject.clone())
            }
            Admission::Queued(acquire) => {
                // The ready service goes into the future; a fresh clone takes its place here.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(
                    acquire,
                    ready,
                    request,
                    self.on_reject.clone(),
                    self.dropped_when,
                )
            }
        }
    }
}
