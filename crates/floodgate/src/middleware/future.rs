use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::GateBody;
use super::reject::OnReject;
use crate::{Acquire, Permit, Rejection};

pin_project! {
    /// Response future of [`GateService`](crate::GateService): waits for a permit if it must,
    /// then calls the inner service, or answers with the rejection.
    pub struct ResponseFuture<F, S, ReqBody, R> {
        #[pin]
        state: State<F, S, ReqBody, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, ReqBody, R> {
        // Boxed: only queued requests pay for carrying the service and request, and the
        // admitted fast path keeps a small future.
        Waiting {
            waiting: Option<Box<Waiting<S, ReqBody, R>>>,
        },
        Called {
            #[pin]
            future: F,
            permit: Option<Permit>,
            dropped_when: fn(StatusCode) -> bool,
        },
        Rejected {
            rejection: Rejection,
            on_reject: R,
        },
    }
}

/// A queued request: its place in the gate's queue, the inner service (already ready) and the
/// request to call it with once a permit comes.
struct Waiting<S, ReqBody, R> {
    acquire: Acquire,
    service: S,
    request: Request<ReqBody>,
    on_reject: R,
    dropped_when: fn(StatusCode) -> bool,
}

impl<F, S, ReqBody, R> ResponseFuture<F, S, ReqBody, R> {
    pub(crate) fn called(
        future: F,
        permit: Option<Permit>,
        dropped_when: fn(StatusCode) -> bool,
    ) -> Self {
        Self {
            state: State::Called {
                future,
                permit,
                dropped_when,
            },
        }
    }

    pub(crate) fn rejected(rejection: Rejection, on_reject: R) -> Self {
        Self {
            state: State::Rejected {
                rejection,
                on_reject,
            },
        }
    }

    pub(crate) fn waiting(
        acquire: Acquire,
        service: S,
        request: Request<ReqBody>,
        on_reject: R,
        dropped_when: fn(StatusCode) -> bool,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Some(Box::new(Waiting {
                    acquire,
                    service,
                    request,
                    on_reject,
                    dropped_when,
                })),
            },
        }
    }
}

impl<F, S, ReqBody, ResBody, E, R> Future for ResponseFuture<F, S, ReqBody, R>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    S: Service<Request<ReqBody>, Future = F, Response = Response<ResBody>, Error = E>,
    R: OnReject<ResBody>,
{
    type Output = Result<Response<GateBody<ResBody>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting { waiting } => {
                    let queued = waiting.as_mut().expect("polled after completion");
                    let admission = ready!(Pin::new(&mut queued.acquire).poll(cx));
                    let Waiting {
                        mut service,
                        request,
                        on_reject,
                        dropped_when,
                        ..
                    } = *waiting.take().expect("checked above");
                    match admission {
                        Ok(permit) => {
                            let future = service.call(request);
                            self.as_mut().project().state.set(State::Called {
                                future,
                                permit: Some(permit),
                                dropped_when,
                            });
                        }
                        Err(rejection) => return Poll::Ready(Ok(reject(&rejection, &on_reject))),
                    }
                }
                StateProj::Called {
                    future,
                    permit,
                    dropped_when,
                } => {
                    let result = ready!(future.poll(cx));
                    let mut permit = permit.take();
                    if let Some(permit) = permit.as_mut().filter(|permit| permit.is_measured()) {
                        let dropped = match &result {
                            Ok(response) => dropped_when(response.status()),
                            Err(_) => true,
                        };
                        if dropped {
                            permit.mark_dropped();
                        }
                    }
                    // On success the permit moves into the body; on error it is released here.
                    return Poll::Ready(
                        result.map(|response| response.map(|body| GateBody::new(body, permit))),
                    );
                }
                StateProj::Rejected {
                    rejection,
                    on_reject,
                } => return Poll::Ready(Ok(reject(rejection, on_reject))),
            }
        }
    }
}

fn reject<B, R: OnReject<B>>(rejection: &Rejection, on_reject: &R) -> Response<GateBody<B>> {
    tracing::debug!(reason = %rejection.reason(), "floodgate: request rejected");
    on_reject.on_reject(rejection)
}

impl<F, S, ReqBody, R> std::fmt::Debug for ResponseFuture<F, S, ReqBody, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
