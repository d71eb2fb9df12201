//! The little WASI a plugin gets: `wasi:cli` (empty environment, closed stdin, stdout and
//! stderr into the broker's log), `wasi:clocks`, `wasi:random` and `wasi:io`. No filesystem,
//! no sockets.
//!
//! `wasi:io` is linked through our own synchronous shim: wasmtime-wasi's synchronous
//! bindings enter a Tokio runtime with `block_on` for the blocking stream calls, which panics
//! on an actix worker thread (already inside a runtime). Every stream and pollable we hand out
//! is ready at once, so the shim polls each operation once; anything that would really block
//! traps the plugin instead of stalling a broker thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::sync::io::{poll as sync_poll, streams as sync_streams};
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::WasiView;
use wasmtime_wasi_io::bindings::wasi::io::{
    error as async_error, poll as async_poll, streams as async_streams,
};
use wasmtime_wasi_io::poll::{DynPollable, Pollable};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, OutputStream};

/// The WASI imports a plugin may have (interface names without version).
pub(crate) const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
];

/// Adds the allowed WASI interfaces to `linker`.
pub(crate) fn add_to_linker<T: WasiView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    async_error::add_to_linker::<T, Io>(l, |t| SyncIo(t.ctx().table))?;
    sync_poll::add_to_linker::<T, Io>(l, |t| SyncIo(t.ctx().table))?;
    sync_streams::add_to_linker::<T, Io>(l, |t| SyncIo(t.ctx().table))?;
    Ok(())
}

/// `HasData` marker for [`SyncIo`].
struct Io;

impl HasData for Io {
    type Data<'a> = SyncIo<'a>;
}

/// The resource table, seen through the synchronous shim.
pub(crate) struct SyncIo<'a>(&'a mut ResourceTable);

/// Polls a future once: our streams and pollables are always ready.
fn now<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn would_block() -> wasmtime::Error {
    wasmtime::Error::msg("a plugin may not block")
}

fn stream_now<T>(f: impl Future<Output = StreamResult<T>>) -> StreamResult<T> {
    now(f).unwrap_or_else(|| Err(StreamError::Trap(would_block())))
}

fn result_now<T>(f: impl Future<Output = wasmtime::Result<T>>) -> wasmtime::Result<T> {
    now(f).unwrap_or_else(|| Err(would_block()))
}

impl async_error::Host for SyncIo<'_> {}

impl async_error::HostError for SyncIo<'_> {
    fn to_debug_string(&mut self, err: Resource<async_error::Error>) -> wasmtime::Result<String> {
        async_error::HostError::to_debug_string(self.0, err)
    }
    fn drop(&mut self, err: Resource<async_error::Error>) -> wasmtime::Result<()> {
        async_error::HostError::drop(self.0, err)
    }
}

impl sync_poll::Host for SyncIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        result_now(async_poll::Host::poll(self.0, pollables))
    }
}

impl sync_poll::HostPollable for SyncIo<'_> {
    fn ready(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<bool> {
        result_now(async_poll::HostPollable::ready(self.0, p))
    }
    fn block(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        result_now(async_poll::HostPollable::block(self.0, p))
    }
    fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.0, p)
    }
}

impl sync_streams::Host for SyncIo<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<sync_streams::StreamError> {
        Ok(match async_streams::Host::convert_stream_error(self.0, err)? {
            async_streams::StreamError::LastOperationFailed(e) => {
                sync_streams::StreamError::LastOperationFailed(e)
            }
            async_streams::StreamError::Closed => sync_streams::StreamError::Closed,
        })
    }
}

use async_streams::{HostInputStream as AIn, HostOutputStream as AOut};

impl sync_streams::HostOutputStream for SyncIo<'_> {
    fn drop(&mut self, s: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        result_now(AOut::drop(self.0, s))
    }
    fn check_write(&mut self, s: Resource<DynOutputStream>) -> StreamResult<u64> {
        AOut::check_write(self.0, s)
    }
    fn write(&mut self, s: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AOut::write(self.0, s, bytes)
    }
    fn blocking_write_and_flush(&mut self, s: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        stream_now(AOut::blocking_write_and_flush(self.0, s, bytes))
    }
    fn blocking_write_zeroes_and_flush(
        &mut self,
        s: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        stream_now(AOut::blocking_write_zeroes_and_flush(self.0, s, len))
    }
    fn subscribe(&mut self, s: Resource<DynOutputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        AOut::subscribe(self.0, s)
    }
    fn write_zeroes(&mut self, s: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AOut::write_zeroes(self.0, s, len)
    }
    fn flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        AOut::flush(self.0, s)
    }
    fn blocking_flush(&mut self, s: Resource<DynOutputStream>) -> StreamResult<()> {
        stream_now(AOut::blocking_flush(self.0, s))
    }
    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AOut::splice(self.0, dst, src, len)
    }
    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_now(AOut::blocking_splice(self.0, dst, src, len))
    }
}

impl sync_streams::HostInputStream for SyncIo<'_> {
    fn drop(&mut self, s: Resource<DynInputStream>) -> wasmtime::Result<()> {
        result_now(AIn::drop(self.0, s))
    }
    fn read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AIn::read(self.0, s, len)
    }
    fn blocking_read(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        stream_now(AIn::blocking_read(self.0, s, len))
    }
    fn skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AIn::skip(self.0, s, len)
    }
    fn blocking_skip(&mut self, s: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        stream_now(AIn::blocking_skip(self.0, s, len))
    }
    fn subscribe(&mut self, s: Resource<DynInputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        AIn::subscribe(self.0, s)
    }
}

/// A plugin's stdout or stderr: complete lines go to the broker's log (rate limited by the
/// plugin's logger), never to the broker's own output.
#[derive(Clone)]
pub(crate) struct LogStream {
    pub(crate) logger: std::sync::Arc<super::host::PluginLog>,
    pub(crate) stream: &'static str,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter { out: self.clone(), line: Vec::new() })
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter { out: self.clone(), line: Vec::new() })
    }
}

/// Collects bytes into lines.
struct LineWriter {
    out: LogStream,
    line: Vec<u8>,
}

/// Longest line kept; the rest of a longer line is dropped.
const MAX_LINE: usize = 4096;

impl LineWriter {
    fn take(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.emit();
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
    }
    fn emit(&mut self) {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        self.out.logger.line(super::host::LogLevel::Info, self.out.stream, &text);
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.take(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl Pollable for LineWriter {
    fn ready<'a, 'f>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        Box::pin(std::future::ready(()))
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.get_mut().take(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
