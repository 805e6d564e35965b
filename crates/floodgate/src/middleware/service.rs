//! The service: admits each request before calling the inner one.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::respond::is_grpc;
use super::{Admission, Decision, ResponseBody, ResponseFuture};

/// The service a floodgate layer builds: admits each request, then calls the inner service.
///
/// A rejected request is answered `Ok(response)` and never reaches the inner service; the error
/// type stays `S::Error`. Waiting happens in the response future: `poll_ready` only asks the
/// inner service (axum treats services as always ready, so waiting there would bound nothing).
#[derive(Debug, Clone)]
pub struct AdmissionService<S, A> {
    inner: S,
    admission: A,
}

impl<S, A> AdmissionService<S, A> {
    pub(crate) fn new(inner: S, admission: A) -> Self {
        Self { inner, admission }
    }

    pub(crate) fn admission(&self) -> &A {
        &self.admission
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

impl<S, A, ReqBody, ResBody> Service<Request<ReqBody>> for AdmissionService<S, A>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    A: Admission<ReqBody, ResBody>,
{
    type Response = Response<ResponseBody<ResBody, A::Guard>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, A, ReqBody, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match self.admission.admit(&request) {
            Decision::Admitted(admitted) => {
                ResponseFuture::called(self.inner.call(request), admitted)
            }
            Decision::Rejected(rejection) => {
                let on_reject = self.admission.on_reject().clone();
                ResponseFuture::rejected(rejection, on_reject, is_grpc(request.headers()))
            }
            Decision::Wait(wait) => {
                // The ready service goes into the future; a fresh clone takes its place here.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let on_reject = self.admission.on_reject().clone();
                ResponseFuture::waiting(wait, ready, request, on_reject)
            }
        }
    }
}
