//! End-to-end tests on real sockets: the demo served on `127.0.0.1:0`, reqwest (or a raw TCP
//! stream) as the client, and the built binary for signals and exit codes.

mod adaptive;
mod classes;
mod connections;
mod grpc;
mod hardening;
mod http2;
mod ingest;
mod jobs;
mod overload;
mod process;
mod rate_limit;
mod replicas;
mod streams;
mod support;
