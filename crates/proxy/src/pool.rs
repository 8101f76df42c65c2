//! Keep-alive connections to instances, one pool per worker thread.
//!
//! Deliberately small: HTTP/1.1 only (what app instances speak), a stack of idle
//! connections per instance, and a connection goes back to its stack when the response
//! body has been read to the end. A pooled connection the instance closed meanwhile hands
//! the request back unsent, so it is retried on a fresh connection — never lost, never
//! sent twice. (It replaced hyper-util's general client, whose extra bookkeeping showed up
//! in profiles.)

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections kept per instance; more than this are closed after use.
const MAX_IDLE_PER_INSTANCE: usize = 256;
/// Instances with idle stacks before closed ones are swept out.
const MAX_INSTANCES_BEFORE_SWEEP: usize = 64;

#[derive(Debug)]
pub enum SendError {
    /// No connection could be made: the request was not sent anywhere.
    Connect(std::io::Error),
    /// The connection failed after the request may have been sent.
    Failed(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(error) => write!(f, "connect: {error}"),
            Self::Failed(error) => write!(f, "{error}"),
        }
    }
}

pub struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Sender>>>,
    connect_timeout: Duration,
}

impl Pool {
    pub fn new(connect_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            connect_timeout,
        })
    }

    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, SendError> {
        while let Some(mut sender) = self.checkout(addr) {
            if std::future::poll_fn(|cx| sender.poll_ready(cx))
                .await
                .is_err()
            {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.wrap(addr, sender, response)),
                Err(mut failed) => match failed.take_message() {
                    // Not sent: the connection was closing. Try the next one.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Failed(failed.into_error())),
                },
            }
        }
        let mut sender = self.connect(addr).await.map_err(SendError::Connect)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Failed)?;
        Ok(self.wrap(addr, sender, response))
    }

    fn checkout(&self, addr: SocketAddr) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let stack = idle.get_mut(&addr)?;
        while let Some(sender) = stack.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn give_back(&self, addr: SocketAddr, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if !idle.contains_key(&addr) && idle.len() >= MAX_INSTANCES_BEFORE_SWEEP {
            // Instances come and go with deploys; drop stacks that hold only closed
            // connections so their addresses do not pile up.
            idle.retain(|_, stack| {
                stack.retain(|s| !s.is_closed());
                !stack.is_empty()
            });
        }
        let stack = idle.entry(addr).or_default();
        if stack.len() < MAX_IDLE_PER_INSTANCE {
            stack.push(sender);
        }
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<Sender> {
        let stream =
            tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                })??;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn wrap(
        self: &Arc<Self>,
        addr: SocketAddr,
        sender: Sender,
        response: Response<Incoming>,
    ) -> Response<PooledBody> {
        response.map(|inner| {
            let mut body = PooledBody {
                inner,
                home: Some((self.clone(), addr, sender)),
            };
            // A body that is already complete (204, HEAD, empty) frees its connection now.
            if body.inner.is_end_stream() {
                body.release();
            }
            body
        })
    }
}

/// A response body that returns its connection to the pool once read to the end.
pub struct PooledBody {
    inner: Incoming,
    home: Option<(Arc<Pool>, SocketAddr, Sender)>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((pool, addr, sender)) = self.home.take() {
            pool.give_back(addr, sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.release(),
            // An error: the connection is not reusable; dropping it closes it.
            Poll::Ready(Some(Err(_))) => self.home = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
