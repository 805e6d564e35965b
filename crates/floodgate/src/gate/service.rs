//! [`GateService`]: the gate's admission plugged into the shared middleware skeleton.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};

use super::acquire::Acquire;
use super::deadline;
use super::handle::{Admission as Entered, Gate};
use super::permit::Permit;
use super::priority::{Classify, ExtensionPriority};
use super::rejection::Rejection;
use super::release::ReleaseAt;
use super::response::{Bypass, NoBypass};
use super::state::Arrival;
use crate::middleware::{self, Admission, AdmissionService, Decision, DefaultOnReject, OnReject};

/// The service built by [`GateLayer`](super::GateLayer): admits each request through a shared
/// [`Gate`] before calling the inner service.
///
/// A rejected request is answered `Ok(503 response)` and never reaches the inner service; the
/// error type stays `S::Error`. Waiting happens in the response future, bounded by `max_wait`:
/// `poll_ready` only asks the inner service. `gate()` is the shared gate;
/// `get_ref`, `get_mut` and `into_inner` reach the inner service.
pub type GateService<S, R = DefaultOnReject, P = NoBypass, C = ExtensionPriority> =
    AdmissionService<S, GateAdmission<R, P, C>>;

/// The response body of [`GateService`]: the inner service's body holding the request's
/// [`Permit`] until it ends (so a streaming response counts against the limit until it is done),
/// or the short plain-text message of a default rejection.
pub type ResponseBody<B> = middleware::ResponseBody<B, Permit>;

/// The gate's admission: the part of [`GateService`] that is the gate's own.
#[derive(Debug, Clone)]
#[allow(unreachable_pub)]
pub struct GateAdmission<R, P, C = ExtensionPriority> {
    gate: Gate,
    on_reject: R,
    bypass: P,
    classify: C,
    completion: Completion,
}

/// How an admitted request ends: which responses mean overload, and when the permit goes back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) dropped_when: fn(StatusCode) -> bool,
    pub(crate) release_at: ReleaseAt,
}

impl<R, P, C> GateAdmission<R, P, C> {
    pub(crate) fn new(
        gate: Gate,
        on_reject: R,
        bypass: P,
        classify: C,
        completion: Completion,
    ) -> Self {
        Self {
            gate,
            on_reject,
            bypass,
            classify,
            completion,
        }
    }
}

impl<S, R, P, C> AdmissionService<S, GateAdmission<R, P, C>> {
    /// The shared gate.
    pub fn gate(&self) -> &Gate {
        &self.admission().gate
    }
}

/// An admitted request: its permit (none if it bypassed the gate), and how to tell whether its
/// response means overload.
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct Admitted {
    permit: Option<Permit>,
    completion: Completion,
}

/// A queued request's wait for its permit.
#[derive(Debug)]
#[allow(unreachable_pub)]
pub struct WaitForPermit {
    acquire: Acquire,
    completion: Completion,
}

impl Future for WaitForPermit {
    type Output = Result<Admitted, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let completion = self.completion;
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map_ok(|permit| Admitted {
                permit: Some(permit),
                completion,
            })
    }
}

impl<R, P, C, ReqBody, ResBody> Admission<ReqBody, ResBody> for GateAdmission<R, P, C>
where
    R: OnReject<Rejection, ResBody> + Clone,
    P: Bypass<ReqBody>,
    C: Classify<ReqBody>,
{
    type Admitted = Admitted;
    type Guard = Permit;
    type Rejection = Rejection;
    type Wait = WaitForPermit;
    type OnReject = R;

    #[inline]
    fn admit(&self, request: &Request<ReqBody>) -> Decision<Admitted, Rejection, WaitForPermit> {
        let completion = self.completion;
        if self.bypass.bypass(request) {
            return Decision::Admitted(Admitted {
                permit: None,
                completion,
            });
        }
        let config = self.gate.config();
        let arrival = Arrival {
            priority: self.classify.classify(request),
            deadline: if config.deadlines {
                deadline::of_request(request, config.deadline_header.as_ref())
                    .map(|deadline| deadline.instant())
            } else {
                None
            },
        };
        match self.gate.admit(arrival) {
            Entered::Admitted(permit) => Decision::Admitted(Admitted {
                permit: Some(permit),
                completion,
            }),
            Entered::Rejected(rejection) => Decision::Rejected(rejection),
            Entered::Queued(acquire) => Decision::Wait(WaitForPermit {
                acquire,
                completion,
            }),
        }
    }

    fn on_reject(&self) -> &R {
        &self.on_reject
    }

    #[inline]
    fn finish(admitted: Admitted, response: Option<&mut Response<ResBody>>) -> Option<Permit> {
        let Completion {
            dropped_when,
            release_at,
        } = admitted.completion;
        let mut permit = admitted.permit;
        if let Some(permit) = permit.as_mut().filter(|permit| permit.is_measured()) {
            let dropped = response.is_none_or(|response| dropped_when(response.status()));
            if dropped {
                permit.mark_dropped();
            }
        }
        match release_at {
            // Dropped here: the slot goes back as the head goes out.
            ReleaseAt::Headers => None,
            ReleaseAt::Body => permit,
        }
    }
}
