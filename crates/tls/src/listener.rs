//! Accepting connections: TCP, then (when configured) the TLS handshake, run in the background
//! so a slow or silent client never holds up the next accept.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::{ClientCertificate, PeerInfo, ServerTls};

/// How long a client has to finish the TLS handshake before its connection is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in flight at most; beyond it the listener stops accepting until some finish.
const MAX_HANDSHAKES: usize = 1024;

/// An accepted connection: plain TCP or TLS over TCP, with who is on the other end.
#[derive(Debug)]
pub struct ServerStream {
    io: Io,
    info: PeerInfo,
}

#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl ServerStream {
    /// Returns who is on the other end.
    pub fn peer(&self) -> &PeerInfo {
        &self.info
    }
}

type Handshake = Pin<Box<dyn Future<Output = Option<ServerStream>> + Send>>;

/// A bound TCP listener that yields [`ServerStream`]s: plaintext, or TLS once each connection's
/// handshake (run concurrently, at most [`HANDSHAKE_TIMEOUT`]) succeeded. A failed handshake
/// is logged (at debug: scanners and clients without the CA are common) and skipped. It is a
/// [`Stream`] for tonic's `serve_with_incoming` and an [`axum::serve::Listener`].
pub struct Listener {
    tcp: Arc<TcpListener>,
    tls: Option<ServerTls>,
    handshakes: FuturesUnordered<Handshake>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.tcp.local_addr().ok())
            .field("tls", &self.tls)
            .field("handshakes", &self.handshakes.len())
            .finish()
    }
}

impl Listener {
    /// Returns a listener over `tcp` (which may be shared with an earlier listener of the same
    /// address), with TLS when `tls` is given.
    pub fn new(tcp: Arc<TcpListener>, tls: Option<ServerTls>) -> Self {
        Self {
            tcp,
            tls,
            handshakes: FuturesUnordered::new(),
        }
    }

    /// Binds `addr` (port 0 picks a free one).
    pub async fn bind(addr: SocketAddr, tls: Option<ServerTls>) -> io::Result<Self> {
        Ok(Self::new(Arc::new(TcpListener::bind(addr).await?), tls))
    }

    /// Returns the bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

async fn handshake(tls: ServerTls, tcp: TcpStream, remote: SocketAddr) -> Option<ServerStream> {
    let local_addr = tcp.local_addr().ok();
    let accept = async {
        let config = tls.config().await;
        tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, %remote, "tls handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%remote, timeout = ?HANDSHAKE_TIMEOUT, "tls handshake timed out");
            return None;
        }
    };
    let client_certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| chain.iter().map(|cert| cert.clone().into_owned()).collect())
        .and_then(ClientCertificate::from_chain)
        .map(Arc::new);
    Some(ServerStream {
        io: Io::Tls(Box::new(stream)),
        info: PeerInfo {
            remote_addr: Some(remote),
            local_addr,
            tls: true,
            client_certificate,
        },
    })
}

impl Stream for Listener {
    type Item = io::Result<ServerStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            while this.handshakes.len() < MAX_HANDSHAKES {
                match this.tcp.poll_accept(cx) {
                    Poll::Ready(Ok((tcp, remote))) => {
                        // Small request/response pairs must not wait for Nagle's algorithm and
                        // delayed ACKs.
                        if let Err(err) = tcp.set_nodelay(true) {
                            tracing::debug!(error = %err, %remote, "cannot set TCP_NODELAY");
                        }
                        match &this.tls {
                            None => {
                                let info = PeerInfo {
                                    remote_addr: Some(remote),
                                    local_addr: tcp.local_addr().ok(),
                                    tls: false,
                                    client_certificate: None,
                                };
                                return Poll::Ready(Some(Ok(ServerStream {
                                    io: Io::Plain(tcp),
                                    info,
                                })));
                            }
                            Some(tls) => {
                                this.handshakes
                                    .push(Box::pin(handshake(tls.clone(), tcp, remote)))
                            }
                        }
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err))),
                    Poll::Pending => break,
                }
            }
            match this.handshakes.poll_next_unpin(cx) {
                Poll::Ready(Some(Some(stream))) => return Poll::Ready(Some(Ok(stream))),
                // A failed handshake freed a slot: accept again.
                Poll::Ready(Some(None)) => {}
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl axum::serve::Listener for Listener {
    type Io = ServerStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.next().await {
                Some(Ok(stream)) => {
                    let addr = stream
                        .info
                        .remote_addr
                        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                    return (stream, addr);
                }
                Some(Err(err)) => {
                    // As axum's own TCP listener: too many open files and the like pass.
                    tracing::error!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listener>>
    for PeerInfo
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listener>) -> Self {
        stream.io().info.clone()
    }
}

impl tonic::transport::server::Connected for ServerStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}
