//! The raw-hyper engine: one HTTP/1.1 connection per worker (and target).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::header::{CONNECTION, HOST, HeaderMap, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use tokio::net::TcpStream;

use crate::body::{BodySpec, RequestBody};

use super::{
    Engine, EngineError, ErrorKind, Outcome, RequestSpec, Response, Worker, plain_http_addrs,
};

/// Plain `http://` over raw `hyper::client::conn::http1` connections: each worker keeps one per
/// target, and the requests go to the targets in turn.
#[derive(Debug, Clone)]
pub(crate) struct HyperEngine {
    shared: Arc<Shared>,
}

/// What every worker sends, and where.
#[derive(Debug)]
struct Shared {
    targets: Vec<Target>,
    /// The next target, round-robin across every worker of every thread.
    next: AtomicUsize,
    method: Method,
    body: BodySpec,
    /// Body bytes sent by every worker.
    sent: Arc<AtomicU64>,
}

/// One target in the form hyper's connection API wants it: origin-form URI, explicit `Host`.
#[derive(Debug)]
struct Target {
    addrs: Vec<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
}

impl HyperEngine {
    /// Resolves the hosts once and prepares the requests.
    pub(crate) fn new(spec: &RequestSpec) -> Result<Self, EngineError> {
        let targets = spec
            .urls
            .iter()
            .map(|url| Target::new(url, &spec.headers))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            shared: Arc::new(Shared {
                targets,
                next: AtomicUsize::new(0),
                method: spec.method.clone(),
                body: spec.body.clone(),
                sent: Arc::new(AtomicU64::new(0)),
            }),
        })
    }
}

impl Target {
    fn new(url: &Url, headers: &HeaderMap) -> Result<Self, EngineError> {
        let addrs = plain_http_addrs(url)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut origin_form = url.path().to_owned();
        if let Some(query) = url.query() {
            origin_form.push('?');
            origin_form.push_str(query);
        }
        let uri = origin_form
            .parse::<Uri>()
            .map_err(|err| EngineError::Unsupported(format!("cannot use {url} as a URI: {err}")))?;
        let mut headers = headers.clone();
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
            addrs,
            uri,
            headers,
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
            senders: self.shared.targets.iter().map(|_| None).collect(),
            shared: Arc::clone(&self.shared),
            target: 0,
            busy: false,
        }
    }

    fn bytes_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }
}

/// One connection per target, each opened on first use and again whenever the server closed it.
#[derive(Debug)]
pub(crate) struct HyperWorker {
    shared: Arc<Shared>,
    senders: Vec<Option<SendRequest<RequestBody>>>,
    /// The target of the request being sent.
    target: usize,
    /// Set while a request is in flight: still set at the next call, the previous call was
    /// cancelled half-way and its connection is in an unknown state.
    busy: bool,
}

impl HyperWorker {
    fn request(&self) -> Request<RequestBody> {
        let shared = &*self.shared;
        let target = &shared.targets[self.target];
        let mut request = Request::new(shared.body.body(&shared.sent));
        *request.method_mut() = shared.method.clone();
        *request.uri_mut() = target.uri.clone();
        *request.headers_mut() = target.headers.clone();
        request
    }

    async fn connect(&self) -> Result<SendRequest<RequestBody>, ErrorKind> {
        let stream = TcpStream::connect(&self.shared.targets[self.target].addrs[..])
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
        let kept = self.senders[self.target].take();
        if let Some(mut sender) = kept.filter(|s| !s.is_closed()) {
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
            self.senders[self.target] = Some(sender);
        }
        Ok(result)
    }
}

impl Worker for HyperWorker {
    async fn send(&mut self) -> Outcome {
        if self.busy {
            self.senders[self.target] = None;
        }
        let targets = self.shared.targets.len();
        self.target = self.shared.next.fetch_add(1, Ordering::Relaxed) % targets;
        self.busy = true;
        let outcome = self.exchange().await;
        self.busy = false;
        outcome
    }
}
