//! The skeleton both layers share: a service that admits each request before calling the inner
//! one, its response future, and its response body. Each layer supplies only its admission (an
//! [`Admission`]): the gate a permit, the rate limit a token.
//!
//! The conventions of `DESIGN.md` live here once: a rejection is an `Ok` response, not an
//! error; waiting happens in the response future (the ready inner service and the request wait
//! in a box, so that admitted requests keep a small future); what an admitted request holds
//! (the gate's permit) moves into the response body and lives until the body ends.

// Public types of a private module: reachable only through the aliases in `gate` and
// `rate_limit`, so the traits are sealed.
#![allow(unreachable_pub)]

mod body;
mod future;
mod reject;
pub(crate) mod respond;
mod service;

use std::future::Future;

use http::{Request, Response};

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;
pub(crate) use self::reject::sealed::Sealed;
pub use self::reject::{DefaultOnReject, OnReject, Rejection};
pub use self::service::AdmissionService;

/// What became of a request at the door.
#[derive(Debug)]
pub enum Decision<A, R, W> {
    /// Admitted at once.
    Admitted(A),
    /// Turned away at once.
    Rejected(R),
    /// Must wait: the future resolves to admitted or turned away.
    Wait(W),
}

/// How one layer admits requests.
pub trait Admission<ReqBody, ResBody> {
    /// What an admitted request carries until its response (a permit, header fields).
    type Admitted;
    /// What the response body holds until it ends (the gate's permit).
    type Guard;
    /// Why a request was turned away.
    type Rejection: Rejection;
    /// The wait of a request that may not enter yet.
    type Wait: Future<Output = Result<Self::Admitted, Self::Rejection>> + Unpin;
    /// Builds the responses to rejected requests (the user's closure, or the default).
    type OnReject: OnReject<Self::Rejection, ResBody> + Clone;

    /// Admits, rejects, or makes the request wait.
    fn admit(
        &self,
        request: &Request<ReqBody>,
    ) -> Decision<Self::Admitted, Self::Rejection, Self::Wait>;

    /// The rejection response builder.
    fn on_reject(&self) -> &Self::OnReject;

    /// The end of an admitted request: sees its response (`None`: the inner service failed)
    /// and returns what the body must hold.
    fn finish(
        admitted: Self::Admitted,
        response: Option<&mut Response<ResBody>>,
    ) -> Option<Self::Guard>;
}
