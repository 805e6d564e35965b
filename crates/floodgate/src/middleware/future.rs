//! The response future: waits for admission if it must, then calls the inner service, or
//! answers with the rejection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::respond::is_grpc;
use super::{Admission, OnReject, ResponseBody};

pin_project! {
    /// The response future of a floodgate layer's service: waits for admission if it must,
    /// then calls the inner service, or answers with the rejection.
    pub struct ResponseFuture<S, A, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
        A: Admission<ReqBody, ResBody>,
    {
        #[pin]
        state: State<S, A, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, A, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
        A: Admission<ReqBody, ResBody>,
    {
        // Boxed: only waiting requests pay for carrying the service and the request, and the
        // admitted fast path keeps a small future.
        Waiting {
            waiting: Option<Box<Waiting<S, A, ReqBody, ResBody>>>,
        },
        Called {
            #[pin]
            future: S::Future,
            admitted: Option<A::Admitted>,
        },
        Rejected {
            rejection: A::Rejection,
            on_reject: A::OnReject,
            // Whether the request was gRPC.
            grpc: bool,
        },
    }
}

/// A waiting request: its wait, the inner service (already ready) and the request to call it
/// with once admitted.
struct Waiting<S, A: Admission<ReqBody, ResBody>, ReqBody, ResBody> {
    wait: A::Wait,
    service: S,
    request: Request<ReqBody>,
    on_reject: A::OnReject,
}

impl<S, A, ReqBody, ResBody> ResponseFuture<S, A, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
    A: Admission<ReqBody, ResBody>,
{
    #[inline]
    pub(crate) fn called(future: S::Future, admitted: A::Admitted) -> Self {
        Self {
            state: State::Called {
                future,
                admitted: Some(admitted),
            },
        }
    }

    pub(crate) fn rejected(rejection: A::Rejection, on_reject: A::OnReject, grpc: bool) -> Self {
        Self {
            state: State::Rejected {
                rejection,
                on_reject,
                grpc,
            },
        }
    }

    pub(crate) fn waiting(
        wait: A::Wait,
        service: S,
        request: Request<ReqBody>,
        on_reject: A::OnReject,
    ) -> Self {
        Self {
            state: State::Waiting {
                waiting: Some(Box::new(Waiting {
                    wait,
                    service,
                    request,
                    on_reject,
                })),
            },
        }
    }
}

impl<S, A, ReqBody, ResBody> Future for ResponseFuture<S, A, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: Admission<ReqBody, ResBody>,
{
    type Output = Result<Response<ResponseBody<ResBody, A::Guard>>, S::Error>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting { waiting } => {
                    let queued = waiting.as_mut().expect("polled after completion");
                    let admission = ready!(Pin::new(&mut queued.wait).poll(cx));
                    let Waiting {
                        mut service,
                        request,
                        on_reject,
                        ..
                    } = *waiting.take().expect("checked above");
                    match admission {
                        Ok(admitted) => {
                            let future = service.call(request);
                            self.as_mut().project().state.set(State::Called {
                                future,
                                admitted: Some(admitted),
                            });
                        }
                        Err(rejection) => {
                            let grpc = is_grpc(request.headers());
                            let response = reject::<A, _, _>(&on_reject, &rejection, grpc);
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Called { future, admitted } => {
                    let mut result = ready!(future.poll(cx));
                    let admitted = admitted.take().expect("polled after completion");
                    // On success what the request holds moves into the body; on error it is
                    // let go here.
                    let guard = A::finish(admitted, result.as_mut().ok());
                    return Poll::Ready(
                        result.map(|response| response.map(|body| ResponseBody::new(body, guard))),
                    );
                }
                StateProj::Rejected {
                    rejection,
                    on_reject,
                    grpc,
                } => return Poll::Ready(Ok(reject::<A, _, _>(on_reject, rejection, *grpc))),
            }
        }
    }
}

/// The response to a rejected request (`grpc`: a gRPC request).
fn reject<A, ReqBody, ResBody>(
    on_reject: &A::OnReject,
    rejection: &A::Rejection,
    grpc: bool,
) -> Response<ResponseBody<ResBody, A::Guard>>
where
    A: Admission<ReqBody, ResBody>,
{
    tracing::debug!(%rejection, grpc, "floodgate: request rejected");
    grpc.then(|| on_reject.on_reject_grpc(rejection))
        .flatten()
        .unwrap_or_else(|| on_reject.on_reject(rejection))
}

impl<S, A, ReqBody, ResBody> std::fmt::Debug for ResponseFuture<S, A, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
    A: Admission<ReqBody, ResBody>,
{
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
