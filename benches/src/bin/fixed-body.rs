//! The ceiling of the HTTP stack: hyper 1 on tokio answering every request with the same bytes
//! (a real `/search` response, read from a file), exactly as `tessera serve` is built (HTTP/1.1,
//! keep-alive, TCP_NODELAY, the runtime's default worker count).
//!
//! Usage: `fixed-body ADDR BODY_FILE`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, file] = args.as_slice() else { return Err("usage: fixed-body ADDR BODY_FILE".into()) };
    let body = Bytes::from(std::fs::read(file)?);
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let body = body.clone();
                async move {
                    let mut response = Response::new(Full::new(body));
                    response.headers_mut().insert(header::CONTENT_TYPE, "application/geo+json".parse().unwrap());
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
