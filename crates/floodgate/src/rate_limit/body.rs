//! The response body of the rate limit: the gate's body type, without a permit.

/// Response body of [`RateLimitService`](crate::RateLimitService): the inner service's body for
/// an admitted request, or the short plain-text message of a default rejection.
///
/// The same type as the gate's [`GateBody`](crate::GateBody); the rate limit never attaches a
/// permit to it.
pub type RateLimitBody<B> = crate::GateBody<B>;
