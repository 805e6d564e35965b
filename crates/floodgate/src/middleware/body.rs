//! The response body: the inner body carrying the request's permit, or a rejection message.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::Permit;

pin_project! {
    /// Response body of [`GateService`](crate::GateService).
    ///
    /// For an admitted request it is the inner service's body, carrying the request's
    /// [`Permit`]: the permit is released when the body ends, fails or is dropped, so a streaming
    /// response counts against the limit until it is done. For a default rejection it is the
    /// short plain-text message.
    pub struct GateBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
            // Only held, never read: dropping it gives the slot back.
            permit: Option<Permit>,
        },
        Message {
            message: Option<Bytes>,
        },
    }
}

impl<B> GateBody<B> {
    /// The inner body, holding `permit` until it ends.
    pub(crate) fn new(body: B, permit: Option<Permit>) -> Self {
        Self {
            kind: Kind::Inner { body, permit },
        }
    }

    /// The inner body, with no permit to hold (bypassed or custom-rejected requests, and the
    /// rate limit's responses).
    pub(crate) fn without_permit(body: B) -> Self {
        Self::new(body, None)
    }

    /// A fixed message (the default rejection body).
    pub(crate) fn message(message: &'static str) -> Self {
        Self {
            kind: Kind::Message {
                message: Some(Bytes::from_static(message.as_bytes())),
            },
        }
    }
}

impl<B> Body for GateBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { mut body, permit } => {
                let frame = ready!(body.as_mut().poll_frame(cx));
                let finished = match &frame {
                    None | Some(Err(_)) => true,
                    Some(Ok(_)) => body.is_end_stream(),
                };
                if finished {
                    // The request is done: give the slot back now, not when the body is dropped.
                    permit.take();
                }
                Poll::Ready(frame)
            }
            KindProj::Message { message } => {
                Poll::Ready(message.take().map(|bytes| Ok(Frame::data(bytes.into()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body, .. } => body.is_end_stream(),
            Kind::Message { message } => message.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body, .. } => body.size_hint(),
            Kind::Message { message } => {
                SizeHint::with_exact(message.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
        }
    }
}

impl<B> std::fmt::Debug for GateBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { permit, .. } if permit.is_some() => "admitted",
            Kind::Inner { .. } => "inner",
            Kind::Message { .. } => "rejection",
        };
        f.debug_struct("GateBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn a_message_body_yields_the_message_once() {
        let body = GateBody::<Full<Bytes>>::message("slow down\n");
        assert_eq!(body.size_hint().exact(), Some(10));
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "slow down\n");
    }

    #[tokio::test]
    async fn an_inner_body_passes_through() {
        let body = GateBody::without_permit(Full::new(Bytes::from_static(b"hello")));
        assert_eq!(format!("{body:?}"), r#"GateBody { kind: "inner", .. }"#);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    }
}
