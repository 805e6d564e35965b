use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::RateLimitBody;
use super::headers::{RATELIMIT, RATELIMIT_POLICY};
use super::reject::OnRateLimited;
use super::rejection::RateLimitRejection;
use super::wait::Wait;

pin_project! {
    /// Response future of [`RateLimitService`](crate::RateLimitService): waits for a token if
    /// it must, then calls the inner service, or answers with the rejection.
    pub struct RateLimitFuture<F, S, ReqBody, R> {
        #[pin]
        state: State<F, S, ReqBody, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, S, ReqBody, R> {
        // Boxed: only waiting requests pay for carrying the service and request, and the
        // admitted fast path keeps a small future.
        Waiting {
            waiting: Option<Box<Waiting<S, ReqBody, R>>>,
        },
        Called {
            #[pin]
            future: F,
            // `RateLimit-Policy` and `RateLimit`, if admitted responses advertise them.
            fields: Option<Box<[HeaderValue; 2]>>,
        },
        Rejected {
            rejection: RateLimitRejection,
            on_reject: R,
        },
    }
}

/// A waiting request: the wait for its token, the inner service (already ready) and the request
/// to call it with once the token comes.
struct Waiting<S, ReqBody, R> {
    wait: Wait,
    service: S,
    request: Request<ReqBody>,
    on_reject: R,
}

impl<F, S, ReqBody, R> RateLimitFuture<F, S, ReqBody, R> {
    pub(crate) fn called(future: F, fields: Option<Box<[HeaderValue; 2]>>) -> Self {
        Self {
            state: State::Called { future, fields },
        }
    }

    pub(crate) fn rejected(rejection: RateLimitRejection, on_reject: R) -> Self {
        Self {
            state: State::Rejected {
                rejection,
                on_reject,
            },
        }
    }

    pub(crate) fn waiting(wait: Wait, service: S, request: Request<ReqBody>, on_reject: R) -> Self {
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

impl<F, S, ReqBody, ResBody, E, R> Future for RateLimitFuture<F, S, ReqBody, R>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    S: Service<Request<ReqBody>, Future = F, Response = Response<ResBody>, Error = E>,
    R: OnRateLimited<ResBody>,
{
    type Output = Result<Response<RateLimitBody<ResBody>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting { waiting } => {
                    let admitted = {
                        let waiting = waiting.as_mut().expect("polled after completion");
                        ready!(waiting.wait.as_mut().poll(cx))
                    };
                    let Waiting {
                        mut service,
                        request,
                        on_reject,
                        ..
                    } = *waiting.take().expect("polled after completion");
                    match admitted {
                        Ok(admitted) => {
                            let future = service.call(request);
                            self.as_mut().project().state.set(State::Called {
                                future,
                                fields: admitted.fields,
                            });
                        }
                        Err(rejection) => return Poll::Ready(Ok(reject(&rejection, &on_reject))),
                    }
                }
                StateProj::Called { future, fields } => {
                    let result = ready!(future.poll(cx));
                    let fields = fields.take();
                    return Poll::Ready(result.map(|mut response| {
                        if let Some(fields) = fields {
                            let [policy, ratelimit] = *fields;
                            let headers = response.headers_mut();
                            headers.append(RATELIMIT_POLICY, policy);
                            headers.append(RATELIMIT, ratelimit);
                        }
                        response.map(RateLimitBody::without_permit)
                    }));
                }
                StateProj::Rejected {
                    rejection,
                    on_reject,
                } => return Poll::Ready(Ok(reject(rejection, on_reject))),
            }
        }
    }
}

fn reject<B, R: OnRateLimited<B>>(
    rejection: &RateLimitRejection,
    on_reject: &R,
) -> Response<RateLimitBody<B>> {
    tracing::debug!(reason = %rejection.reason(), "floodgate: request rate limited");
    on_reject.on_rate_limited(rejection)
}

impl<F, S, ReqBody, R> std::fmt::Debug for RateLimitFuture<F, S, ReqBody, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Called { .. } => "called",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("RateLimitFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
