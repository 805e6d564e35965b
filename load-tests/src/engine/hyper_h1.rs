//! The raw-hyper engine: one HTTP/1.1 connection per worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{CONNECTION, HOST, HeaderMap, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::{BodySpec, RequestBody};

use super::{Engine, EngineError, ErrorKind, Outcome, RequestSpec, Response, Worker};

/// Plain `http://` over raw `hyper::client::conn::http1` connections, one per worker.
#[derive(Debug, Clone)]
pub(crate) struct HyperEngine {
    target: Arc<Target>,
}

/// The request in the form hyper's connection API wants it: origin-form URI, explicit `Host`.
#[derive(Debug)]
struct Target {
    addrs: Vec<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: BodySpec,
    /// Body bytes sent by every worker.
    sent: Arc<AtomicU64>,
}

impl HyperEngine {
    /// Resolves the host once and prepares the request.
    pub(crate) fn new(spec: &RequestSpec) -> Result<Self, EngineError> {
        let url = &spec.url;
        if url.scheme() != "http" {
            return Err(EngineError::Unsupported(format!(
                "the hyper engine speaks plain http:// only, not {}://; use --engine reqwest",
                url.scheme()
            )));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let addrs = url
            .socket_addrs(|| None)
            .map_err(|source| EngineError::Resolve {
                host: host.clone(),
                source,
            })?;
        let mut origin_form = url.path().to_owned();
        if let Some(query) = url.query() {
            origin_form.push('?');
            origin_form.push_str(query);
        }
        let uri = origin_form
            .parse::<Uri>()
            .map_err(|err| EngineError::Unsupported(format!("cannot use {url} as a URI: {err}")))?;
        let mut headers = spec.headers.clone();
        if !headers.contains_key(HOST) {
            // hyper's connection API writes the request as given; HTTP/1.1 requires Host.
            let authority = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            let value = HeaderValue::from_str(&authority)
                .map_err(|err| EngineError::Unsupported(format!("bad host {authority}: {err}")))?;
            headers.insert(HOST, value);
        }
        Ok(Self {
            target: Arc::new(Target {
                addrs,
                method: spec.method.clone(),
                uri,
                headers,
                body: spec.body.clone(),
                sent: Arc::new(AtomicU64::new(0)),
            }),
        })
    }
}

impl Engine for HyperEngine {
    type Worker = HyperWorker;

    const NAME: &'static str = "hyper";

    fn for_thread(&self) -> Result<Self, EngineError> {
        Ok(self.clone())
    }

    fn worker(&self) -> HyperWorker {
        HyperWorker {
            target: Arc::clone(&self.target),
            sender: None,
            busy: false,
        }
    }

    fn bytes_sent(&self) -> u64 {
        self.target.sent.load(Ordering::Relaxed)
    }
}

/// One connection, opened on first use and again whenever the server closed it.
#[derive(Debug)]
pub(crate) struct HyperWorker {
    target: Arc<Target>,
    sender: Option<SendRequest<RequestBody>>,
    /// Set while a request is in flight: still set at the next call, the previous call was
    /// cancelled half-way and its connection is in an unknown state.
    busy: bool,
}

impl HyperWorker {
    fn request(&self) -> Request<RequestBody> {
        let mut request = Request::new(self.target.body.body(&self.target.sent));
        *request.method_mut() = self.target.method.clone();
        *request.uri_mut() = self.target.uri.clone();
        *request.headers_mut() = self.target.headers.clone();
        request
    }

    async fn connect(&self) -> Result<SendRequest<RequestBody>, ErrorKind> {
        let stream = TcpStream::connect(&self.target.addrs[..])
            .await
            .map_err(|_| ErrorKind::Connect)?;
        // Small requests, one at a time: Nagle would only add delay.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Connect)?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the worker drops its sender; an
            // error here surfaces on the request that was in flight.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// A connection that is ready for a request: the kept one, or a new one.
    async fn ready_sender(&mut self) -> Result<SendRequest<RequestBody>, ErrorKind> {
        if let Some(mut sender) = self.sender.take().filter(|s| !s.is_closed()) {
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
            // The server closed the idle connection: not this request's failure.
        }
        let mut sender = self.connect().await?;
        sender.ready().await.map_err(|_| ErrorKind::Connect)?;
        Ok(sender)
    }

    async fn exchange(&mut self) -> Outcome {
        let mut sender = self.ready_sender().await?;
        let response = match sender.send_request(self.request()).await {
            Ok(response) => response,
            // Closed under our feet before the request was written: safe to send it again.
            Err(err) if err.is_canceled() => {
                sender = self.connect().await?;
                sender.ready().await.map_err(|_| ErrorKind::Connect)?;
                sender
                    .send_request(self.request())
                    .await
                    .map_err(|_| ErrorKind::Other)?
            }
            Err(_) => return Err(ErrorKind::Other),
        };
        let keep_alive = !response
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let result = Response::new(response.status(), response.headers());
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| ErrorKind::Other)?;
        }
        if keep_alive {
            self.sender = Some(sender);
        }
        Ok(result)
    }
}

impl Worker for HyperWorker {
    async fn send(&mut self) -> Outcome {
        if self.busy {
            self.sender = None;
        }
        self.busy = true;
        let outcome = self.exchange().await;
        self.busy = false;
        outcome
    }
}
