//! The response body: the inner body holding what the request must hold until it ends, or a
//! rejection's short message.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of a floodgate layer.
    ///
    /// For an admitted request it is the inner service's body, holding what the request must
    /// hold until it is done (the gate's permit: so a streaming response counts against the
    /// limit until it ends, fails or is dropped). For a default rejection it is a short
    /// plain-text message.
    pub struct ResponseBody<B, G> {
        #[pin]
        kind: Kind<B, G>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B, G> {
        Inner {
            #[pin]
            body: B,
            // Only held, never read: dropping it gives the slot back.
            guard: Option<G>,
        },
        Message {
            message: Option<Bytes>,
        },
    }
}

impl<B, G> ResponseBody<B, G> {
    /// The inner body, holding `guard` until it ends.
    #[inline]
    pub(crate) fn new(body: B, guard: Option<G>) -> Self {
        Self {
            kind: Kind::Inner { body, guard },
        }
    }

    /// The inner body, with nothing to hold (bypassed and custom-rejected requests).
    pub(crate) fn inner(body: B) -> Self {
        Self::new(body, None)
    }

    /// No body at all: the response ends with its head (a gRPC trailers-only rejection).
    pub(crate) fn empty() -> Self {
        Self {
            kind: Kind::Message { message: None },
        }
    }

    /// A fixed message (a default rejection's body).
    pub(crate) fn message(message: &'static str) -> Self {
        Self {
            kind: Kind::Message {
                message: Some(Bytes::from_static(message.as_bytes())),
            },
        }
    }
}

impl<B, G> Body for ResponseBody<B, G>
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
            KindProj::Inner { mut body, guard } => {
                let frame = ready!(body.as_mut().poll_frame(cx));
                let finished = match &frame {
                    None | Some(Err(_)) => true,
                    Some(Ok(_)) => body.is_end_stream(),
                };
                if finished {
                    // The request is done: let go now, not when the body is dropped.
                    guard.take();
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

impl<B, G> std::fmt::Debug for ResponseBody<B, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { guard, .. } if guard.is_some() => "admitted",
            Kind::Inner { .. } => "inner",
            Kind::Message { .. } => "rejection",
        };
        f.debug_struct("ResponseBody")
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
        let body = ResponseBody::<Full<Bytes>, ()>::message("slow down\n");
        assert_eq!(body.size_hint().exact(), Some(10));
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "slow down\n");
    }

    #[tokio::test]
    async fn an_inner_body_passes_through() {
        let body = ResponseBody::<_, ()>::inner(Full::new(Bytes::from_static(b"hello")));
        assert_eq!(format!("{body:?}"), r#"ResponseBody { kind: "inner", .. }"#);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
    }
}
