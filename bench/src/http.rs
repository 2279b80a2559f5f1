//! A minimal keep-alive HTTP/1.1 client: one connection per worker (hyper's low-level `conn::http1`), so N workers
//! are N concurrent keep-alive clients and the load generator spends as little CPU per request as possible.
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    pub requests: u64,
    pub connects: u64,
}

impl Conn {
    pub fn new(addr: SocketAddr, host: &str) -> Conn {
        Conn { addr, host: HeaderValue::from_str(host).expect("host header"), sender: None, requests: 0, connects: 0 }
    }

    async fn ready_sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        // A kept-alive connection the server has closed shows up as not ready: reconnect before sending, so a
        // request is never sent twice.
        let usable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            let stream = TcpStream::connect(self.addr).await.map_err(|e| format!("connect: {e}"))?;
            stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
            self.connects += 1;
        }
        Ok(self.sender.as_mut().expect("sender"))
    }

    /// Sends one request. `path` is origin-form (path and query). On any transport error the connection is dropped.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<Response, String> {
        let mut b = Request::builder().method(method).uri(path).header(hyper::header::HOST, self.host.clone());
        for (k, v) in headers {
            b = b.header(HeaderName::from_static(k), v.as_str());
        }
        if !body.is_empty() {
            b = b.header(hyper::header::CONTENT_LENGTH, body.len());
        }
        let req = b.body(Full::new(body)).map_err(|e| format!("request: {e}"))?;
        let sender = self.ready_sender().await?;
        let res = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("transport: {e}"));
            }
        };
        let (parts, body) = res.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                self.sender = None;
                return Err(format!("body: {e}"));
            }
        };
        self.requests += 1;
        Ok(Response { status: parts.status.as_u16(), headers: parts.headers, body })
    }

    pub async fn get(&mut self, path: &str, headers: &[(&'static str, String)]) -> Result<Response, String> {
        self.request(Method::GET, path, headers, Bytes::new()).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&'static str, String)],
        body: impl Into<Bytes>,
    ) -> Result<Response, String> {
        self.request(Method::POST, path, headers, body.into()).await
    }
}
