//! The raw-hyper HTTP/2 engine (`--http2`): h2c with prior knowledge, many streams per
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::header::HeaderMap;
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::Url;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::body::{BodySpec, RequestBody};

use super::{
    Engine, EngineError, ErrorKind, Outcome, RequestSpec, Response, Worker, plain_http_addrs,
};

/// How many workers of a runtime thread share one connection (each worker has at most one
/// request in flight, so this is the most streams a connection carries at once): far below the
/// 100 or more concurrent streams servers allow (the demo: 256), so that no request waits for
/// a stream on the client side.
pub(crate) const STREAMS_PER_CONNECTION: usize = 64;

/// Plain `http://` over HTTP/2 with prior knowledge (h2c), on raw
/// `hyper::client::conn::http2` connections: on each runtime thread, every
/// [`STREAMS_PER_CONNECTION`] workers share one connection per target, each request a stream.
#[derive(Debug, Clone)]
pub(crate) struct HyperH2Engine {
    shared: Arc<Shared>,
    /// This thread's connections (a fresh set per thread: threads share nothing).
    connections: Arc<Connections>,
}

/// What every worker sends, and where.
#[derive(Debug)]
struct Shared {
    targets: Vec<Target>,
    next: AtomicUsize,
    method: Method,
    headers: HeaderMap,
    body: BodySpec,
    sent: Arc<AtomicU64>,
}

/// One target: where to connect, and the absolute URI (HTTP/2 sends the scheme and authority
/// as pseudo-headers).
#[derive(Debug)]
struct Target {
    addrs: Vec<SocketAddr>,
    uri: Uri,
}

/// One thread's connections: for each group of workers, one per target, opened on first use
/// and again after the server closed it.
#[derive(Debug, Default)]
struct Connections {
    groups: std::sync::Mutex<Vec<Arc<Group>>>,
    workers: AtomicUsize,
}

/// The connections of one group of workers, one slot per target.
#[derive(Debug)]
struct Group {
    slots: Vec<Mutex<Option<SendRequest<RequestBody>>>>,
}

impl HyperH2Engine {
    /// Resolves the hosts once and prepares the requests.
    pub(crate) fn new(spec: &RequestSpec) -> Result<Self, EngineError> {
        let targets = spec
            .urls
            .iter()
            .map(Target::new)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            shared: Arc::new(Shared {
                targets,
                next: AtomicUsize::new(0),
                method: spec.method.clone(),
                headers: spec.headers.clone(),
                body: spec.body.clone(),
                sent: Arc::new(AtomicU64::new(0)),
            }),
            connections: Arc::default(),
        })
    }
}

impl Target {
    fn new(url: &Url) -> Result<Self, EngineError> {
        let addrs = plain_http_addrs(url)?;
        let uri = url
            .as_str()
            .parse::<Uri>()
            .map_err(|err| EngineError::Unsupported(format!("cannot use {url} as a URI: {err}")))?;
        Ok(Self { addrs, uri })
    }
}

impl Engine for HyperH2Engine {
    type Worker = HyperH2Worker;

    const NAME: &'static str = "hyper";

    fn for_thread(&self) -> Result<Self, EngineError> {
        Ok(Self {
            shared: Arc::clone(&self.shared),
            connections: Arc::default(),
        })
    }

    fn worker(&self) -> HyperH2Worker {
        let index = self.connections.workers.fetch_add(1, Ordering::Relaxed);
        let mut groups = self
            .connections
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if index % STREAMS_PER_CONNECTION == 0 {
            groups.push(Arc::new(Group {
                slots: self
                    .shared
                    .targets
                    .iter()
                    .map(|_| Mutex::new(None))
                    .collect(),
            }));
        }
        HyperH2Worker {
            shared: Arc::clone(&self.shared),
            group: Arc::clone(groups.last().expect("a group was just made")),
        }
    }

    fn bytes_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }
}

/// A worker: one stream at a time on its group's connection to each target.
#[derive(Debug)]
pub(crate) struct HyperH2Worker {
    shared: Arc<Shared>,
    group: Arc<Group>,
}

impl HyperH2Worker {
    fn request(&self, target: usize) -> Request<RequestBody> {
        let shared = &*self.shared;
        let mut request = Request::new(shared.body.body(&shared.sent));
        *request.method_mut() = shared.method.clone();
        *request.uri_mut() = shared.targets[target].uri.clone();
        *request.headers_mut() = shared.headers.clone();
        request
    }

    /// A handle on the group's live connection to `target`, opening one if there is none. The
    /// first worker to find none connects while the others of its group wait for it.
    async fn sender(&self, target: usize) -> Result<SendRequest<RequestBody>, ErrorKind> {
        let mut slot = self.group.slots[target].lock().await;
        if let Some(sender) = slot.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        let stream = TcpStream::connect(&self.shared.targets[target].addrs[..])
            .await
            .map_err(|_| ErrorKind::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Connect)?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or every sender is gone; an error here
            // surfaces on the streams that were open.
            let _ = connection.await;
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

impl Worker for HyperH2Worker {
    async fn send(&mut self) -> Outcome {
        let target = self.shared.next.fetch_add(1, Ordering::Relaxed) % self.shared.targets.len();
        let mut sender = self.sender(target).await?;
        // Not ready: the connection failed (a server that does not speak h2c ends here).
        sender.ready().await.map_err(|_| ErrorKind::Connect)?;
        // A stream the server refused or reset is this request's failure; the connection goes
        // on. Dropping the future (timeout, end of the run) resets the stream.
        let response = sender
            .send_request(self.request(target))
            .await
            .map_err(|_| ErrorKind::Other)?;
        let result = Response::new(response.status(), response.headers());
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| ErrorKind::Other)?;
        }
        Ok(result)
    }
}
