//! The session's write side: packets are encoded straight into a buffer, and a writer task on
//! the session's thread sends whatever has accumulated in one write. Everything a session
//! handles in one turn of its mailbox (say, 50 deliveries) leaves in a single syscall.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// Buffers above this capacity are not kept between writes, so idle sessions stay small.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The writer stops waiting for more once this much is buffered...
const COALESCE_BYTES: usize = 32 * 1024;
/// ...or after this many passes of the thread's run queue.
const MAX_COALESCE_PASSES: usize = 8;

struct State {
    buf: BytesMut,
    /// Bytes handed to the socket but not yet written.
    writing: usize,
    closing: bool,
    failed: bool,
}

/// Returns `Pending` once, rescheduling the task at the back of the thread's run queue.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Handle to the write buffer and its writer task.
pub struct Outbox {
    state: Rc<RefCell<State>>,
    wake: Rc<Notify>,
}

impl Outbox {
    /// Spawns the writer task on the current (arbiter) thread. `on_done` runs once when the
    /// task ends: after a clean close, or at the first write error.
    pub fn spawn<W>(mut io: W, on_done: impl FnOnce(Option<std::io::Error>) + 'static) -> Outbox
    where
        W: AsyncWrite + Unpin + 'static,
    {
        let state =
            Rc::new(RefCell::new(State { buf: BytesMut::new(), writing: 0, closing: false, failed: false }));
        let wake = Rc::new(Notify::new());
        let (st, wk) = (state.clone(), wake.clone());
        tokio::task::spawn_local(async move {
            let mut spare = BytesMut::new();
            let result = loop {
                let (chunk, closing) = {
                    let mut s = st.borrow_mut();
                    std::mem::swap(&mut s.buf, &mut spare);
                    s.writing = spare.len();
                    (spare.len(), s.closing)
                };
                if chunk == 0 {
                    if closing {
                        break io.shutdown().await.err();
                    }
                    wk.notified().await;
                    // Let the other tasks ready on this thread (this session's actor, the router,
                    // other sessions) run first, for as long as they keep adding to the buffer:
                    // under load one write then carries many packets (the actor handles at most
                    // 16 packets of a burst before it yields to us). On an idle thread this costs
                    // one pass of the run queue: no syscall, no timer.
                    for _ in 0..MAX_COALESCE_PASSES {
                        let before = st.borrow().buf.len();
                        YieldOnce(false).await;
                        let after = st.borrow().buf.len();
                        if after == before || after >= COALESCE_BYTES {
                            break;
                        }
                    }
                    continue;
                }
                // Flush too: TLS and WebSocket streams may hold written bytes back until then.
                let written = match io.write_all(&spare).await {
                    Ok(()) => io.flush().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    st.borrow_mut().failed = true;
                    break Some(e);
                }
                spare.clear();
                if spare.capacity() > KEEP_CAPACITY {
                    spare = BytesMut::new();
                }
                st.borrow_mut().writing = 0;
            };
            on_done(result);
        });
        Outbox { state, wake }
    }

    /// Runs `f` on the write buffer (to encode packets into it) and wakes the writer.
    pub fn write<R>(&self, f: impl FnOnce(&mut BytesMut) -> R) -> R {
        let r = {
            let mut s = self.state.borrow_mut();
            f(&mut s.buf)
        };
        self.wake.notify_one();
        r
    }

    /// Bytes waiting to be written (buffered plus being written).
    pub fn backlog(&self) -> usize {
        let s = self.state.borrow();
        s.buf.len() + s.writing
    }

    /// True once a write failed.
    pub fn failed(&self) -> bool {
        self.state.borrow().failed
    }

    /// Writes what is buffered, then shuts the write side down.
    pub fn close(&self) {
        self.state.borrow_mut().closing = true;
        self.wake.notify_one();
    }
}
