//! Threads that run the `authenticate` chain, so a slow authentication (argon2 takes tens of
//! milliseconds) never blocks a thread that serves sockets. Each thread has its own instances.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::instance::PluginSet;
use super::{PluginHost, PluginMask};
use crate::auth::{AuthAnswer, ConnectRequest};

/// Native stack of an authentication thread: ample room above wasm's 512 KiB stack limit.
const STACK_BYTES: usize = 4 << 20;

struct Job {
    req: ConnectRequest,
    /// The plugins of the client's listener.
    mask: PluginMask,
    reply: oneshot::Sender<AuthAnswer>,
}

/// The authentication threads. They stop once the pool is dropped.
pub struct AuthPool {
    tx: SyncSender<Job>,
}

/// The queue is full: the broker is overloaded.
#[derive(Debug, thiserror::Error)]
#[error("authentication queue full")]
pub struct Busy;

impl AuthPool {
    /// Starts `plugin_runtime.auth_threads` threads.
    pub fn start(host: Arc<PluginHost>) -> std::io::Result<AuthPool> {
        let (tx, rx) = sync_channel::<Job>(host.runtime.auth_queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..host.runtime.auth_threads {
            let (host, rx) = (host.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("aviary-auth-{n}"))
                .stack_size(STACK_BYTES)
                .spawn(move || serve(host, &rx))?;
        }
        Ok(AuthPool { tx })
    }

    /// Queues a CONNECT for the plugins `mask` selects; the answer arrives on the returned
    /// channel.
    pub fn submit(
        &self,
        req: ConnectRequest,
        mask: PluginMask,
    ) -> Result<oneshot::Receiver<AuthAnswer>, Busy> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { req, mask, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }
}

fn serve(host: Arc<PluginHost>, rx: &Mutex<Receiver<Job>>) {
    let mut set = PluginSet::new(host);
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let answer = set.authenticate(&job.req, &job.mask);
        let _ = job.reply.send(answer);
    }
}
