//! MQTT over WebSocket (MQTT 5 section 6, MQTT 3.1.1 section 6).
//!
//! [`accept`] runs the server side of the HTTP upgrade: the request path must be the
//! listener's `path`, and the client must offer the `mqtt` subprotocol, which is echoed in the
//! response [MQTT-6.0.0-3]/[MQTT-6.0.0-4]. [`WsByteStream`] turns the connection into a byte
//! stream for the session: the payloads of binary frames are concatenated, so a packet may span
//! frames and a frame may hold several packets [MQTT-6.0.0-2]; a text frame closes the
//! connection [MQTT-6.0.0-1]. Each write becomes one binary frame. The same type serves the
//! client side (`aviary pub` / `aviary sub`).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The WebSocket subprotocol of MQTT.
pub const SUBPROTOCOL: &str = "mqtt";

/// Why a WebSocket upgrade was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The request asked for another path.
    #[error("WebSocket upgrade refused: path `{got}` is not `{expected}` (answered 404)")]
    WrongPath {
        /// Path requested.
        got: String,
        /// The listener's path.
        expected: String,
    },
    /// The client did not offer the `mqtt` subprotocol.
    #[error("WebSocket upgrade refused: subprotocol `mqtt` not offered (Sec-WebSocket-Protocol: {offered}; answered 400)")]
    WrongSubprotocol {
        /// What the client offered, or `none`.
        offered: String,
    },
    /// The HTTP or WebSocket handshake failed.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[from] tokio_tungstenite::tungstenite::Error),
}

/// The frame limits of a connection whose packets are at most `max_packet` bytes. A message
/// may hold more than one packet, so it may be twice that.
pub fn config(max_packet: u32) -> WebSocketConfig {
    let max = (max_packet as usize).saturating_mul(2).max(64 * 1024);
    let mut c = WebSocketConfig::default();
    c.max_message_size = Some(max);
    c.max_frame_size = Some(max);
    c.write_buffer_size = 0;
    c
}

/// Accepts a WebSocket upgrade on `path` with the `mqtt` subprotocol.
// The callback's error type is tungstenite's HTTP response, which is large.
#[allow(clippy::result_large_err)]
pub async fn accept<S>(stream: S, path: &str, max_packet: u32) -> Result<WsByteStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut refused: Option<WsError> = None;
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != path {
            refused =
                Some(WsError::WrongPath { got: req.uri().path().to_owned(), expected: path.to_owned() });
            return Err(error_response(StatusCode::NOT_FOUND, "no MQTT endpoint at this path"));
        }
        let offered = req.headers().get_all(header::SEC_WEBSOCKET_PROTOCOL);
        let offers_mqtt = offered
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL));
        if !offers_mqtt {
            let list: Vec<_> = offered.iter().filter_map(|v| v.to_str().ok()).collect();
            let offered = if list.is_empty() { "none".to_owned() } else { list.join(", ") };
            refused = Some(WsError::WrongSubprotocol { offered });
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                "the `mqtt` WebSocket subprotocol is required",
            ));
        }
        resp.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
        Ok(resp)
    };
    let result =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config(max_packet))).await;
    match (result, refused) {
        (_, Some(why)) => Err(why),
        (Ok(ws), None) => Ok(WsByteStream::new(ws)),
        (Err(e), None) => Err(WsError::Handshake(e)),
    }
}

fn error_response(status: StatusCode, body: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(body.to_owned()));
    *resp.status_mut() = status;
    resp
}

/// A WebSocket connection seen as a byte stream of MQTT packets.
pub struct WsByteStream<S> {
    inner: WebSocketStream<S>,
    /// Unread bytes of the last binary frame.
    pending: Bytes,
    eof: bool,
}

impl<S> WsByteStream<S> {
    /// Wraps an established WebSocket connection.
    pub fn new(inner: WebSocketStream<S>) -> WsByteStream<S> {
        WsByteStream { inner, pending: Bytes::new(), eof: false }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame received: MQTT over WebSocket uses binary frames [MQTT-6.0.0-1]",
                    )));
                }
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Ok(_)) => continue, // ping, pong: tungstenite answers pings itself
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_ready(cx)).map_err(io::Error::other)?;
        Pin::new(&mut this.inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx).map_err(io::Error::other)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().inner).poll_close(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            // The peer went first: the connection is closed either way.
            Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io::Error::other(e))),
        }
    }
}
