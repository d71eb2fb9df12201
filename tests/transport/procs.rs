//! Child processes for the tests: the `aviary` binary (broker, `pub`, `sub`), Mosquitto and
//! its clients. Output is collected by reader threads; every wait has a deadline; a child is
//! killed when its guard is dropped, so a failing test leaves nothing running.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one step may take.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The `aviary` binary under test.
pub fn aviary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aviary"));
    c.env("RUST_BACKTRACE", "0").env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

/// A system tool; a missing one fails the test saying what to install.
pub fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output();
    match found {
        Ok(o) if o.status.success() => Command::new(name),
        _ => panic!("`{name}` is not installed: apt-get install -y {package} (scripts/test does it)"),
    }
}

/// A running child whose output is collected.
pub struct Proc {
    pub name: String,
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            if let Ok(mut s) = into.lock() {
                s.push_str(&line);
            }
            line.clear();
        }
    });
}

impl Proc {
    /// Starts `cmd` with stdin closed and stdout/stderr collected.
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        Self::spawn_with_stdin(name, cmd, Stdio::null())
    }

    /// Starts `cmd` with the given stdin.
    pub fn spawn_with_stdin(name: &str, cmd: &mut Command, stdin: Stdio) -> Proc {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (stdout, stderr) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(String::new())));
        if let Some(o) = child.stdout.take() {
            collect(o, stdout.clone());
        }
        if let Some(e) = child.stderr.take() {
            collect(e, stderr.clone());
        }
        Proc { name: name.to_owned(), child, stdout, stderr }
    }

    /// The child's stdin (when spawned with `Stdio::piped()`).
    pub fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`; panics with the output after [`DEADLINE`].
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        self.wait_for(|p| p.stderr().contains(needle), &format!("`{needle}` on stderr"));
        self.stderr()
    }

    /// Waits until `cond` holds; panics with the output after [`DEADLINE`] or if the child
    /// exits first.
    pub fn wait_for(&mut self, cond: impl Fn(&Proc) -> bool, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if cond(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(50)); // let the readers finish
                if cond(self) {
                    return;
                }
                panic!("{} exited ({status}) before {what}\n{}", self.name, self.dump());
            }
            if Instant::now() > deadline {
                panic!("{} timed out waiting for {what}\n{}", self.name, self.dump());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the child to exit; kills it and panics after [`DEADLINE`].
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    std::thread::sleep(Duration::from_millis(50));
                    return Finished {
                        status,
                        stdout: self.stdout(),
                        stderr: self.stderr(),
                        name: self.name.clone(),
                    };
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => panic!("{} did not finish in time\n{}", self.name, self.dump()),
            }
        }
    }

    /// Sends a signal (e.g. "HUP", "TERM").
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status();
        assert!(ok.is_ok_and(|s| s.success()), "cannot send SIG{sig} to {}", self.name);
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn dump(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout(), self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished child.
#[derive(Debug)]
pub struct Finished {
    pub name: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Asserts exit code 0.
    pub fn success(self) -> Finished {
        assert!(
            self.status.success(),
            "{} failed ({})\n--- stdout\n{}--- stderr\n{}",
            self.name,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts the exit code.
    pub fn code(self, code: i32) -> Finished {
        assert_eq!(
            self.status.code(),
            Some(code),
            "{}: exit code\n--- stdout\n{}--- stderr\n{}",
            self.name,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// The `aviary` broker binary on a config file, with JSON logs; waits for every listener and
/// learns their ports from the log.
pub struct BrokerProc {
    pub proc: Proc,
}

impl BrokerProc {
    pub fn start(config: &Path, listeners: usize) -> BrokerProc {
        let mut proc = Proc::spawn("aviary broker", aviary().arg("--config").arg(config));
        proc.wait_for(|p| p.stderr().matches("\"listening").count() >= listeners, "every listener");
        BrokerProc { proc }
    }

    /// The bound port of the named listener.
    pub fn port(&self, listener: &str) -> u16 {
        for line in self.proc.stderr().lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let f = &v["fields"];
            if f["listener"] == listener && f["message"].as_str().is_some_and(|m| m.starts_with("listening"))
            {
                let addr = f["addr"].as_str().unwrap_or_default();
                return addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port in the log");
            }
        }
        panic!("listener {listener} not in the log:\n{}", self.proc.stderr());
    }
}

/// A port that was free a moment ago (for Mosquitto, which cannot report a port 0 choice).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Waits until something accepts TCP connections on the port.
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
