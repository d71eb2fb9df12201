//! The `aviary` binary: parses the command line, loads the configuration, sets up logging,
//! starts the broker and waits for a signal (SIGHUP reloads what can change while running). `aviary pub`
//! and `aviary sub` are command-line clients ([`cli`]). `anyhow` lives only here.

mod cli;

/// mimalloc instead of glibc malloc: messages are allocated on one thread and freed on another
/// (session, router, store), which glibc serialises on its arena locks.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use aviary::config::{Config, ListenerConfig, ListenerKind, LogFormat, DEFAULT_CONFIG_TOML};
use aviary::Broker;
use clap::{Parser, Subcommand};

/// Aviary MQTT broker.
#[derive(Parser, Debug)]
#[command(name = "aviary", version, about = "An MQTT 3.1 / 3.1.1 / 5.0 broker")]
struct Cli {
    /// TOML configuration file (without it: defaults, listening on 127.0.0.1:1883).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen on HOST:PORT for plain MQTT over TCP; repeatable. Replaces the configured
    /// TCP listeners.
    #[arg(short, long, value_name = "HOST:PORT")]
    listen: Vec<SocketAddr>,
    /// Print the fully commented default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// Run a client instead of the broker.
    #[command(subcommand)]
    command: Option<Command>,
}

/// Tools that come with the broker, and command-line clients (see docs/cli.md).
#[derive(Subcommand, Debug)]
enum Command {
    /// Load generator: throughput, latency, loss and memory per connection of any MQTT broker.
    Bench(aviary::bench::BenchArgs),
    /// Publish messages, like mosquitto_pub.
    #[command(disable_help_flag = true)]
    Pub(cli::publish::PubArgs),
    /// Subscribe and print messages, like mosquitto_sub.
    #[command(disable_help_flag = true)]
    Sub(cli::subscribe::SubArgs),
    /// Create, update or delete a user in a password file (for the auth-password plugin).
    Passwd(PasswdArgs),
}

/// `aviary passwd [-c] [-D] [-b PASSWORD] FILE USER`, like mosquitto_passwd.
#[derive(clap::Args, Debug)]
struct PasswdArgs {
    /// Create a new file (replacing an existing one).
    #[arg(short = 'c')]
    create: bool,
    /// Delete the user.
    #[arg(short = 'D', conflicts_with = "create")]
    delete: bool,
    /// The password on the command line (visible to other local users); without it the
    /// password is read from the first line of standard input.
    #[arg(short = 'b', value_name = "PASSWORD")]
    password: Option<String>,
    /// The password file.
    file: PathBuf,
    /// The user name.
    user: String,
}

fn passwd(args: PasswdArgs) -> anyhow::Result<()> {
    use aviary::passwd::{hash_password, PasswordFile};
    let mut file = if args.create { PasswordFile::default() } else { PasswordFile::load(&args.file)? };
    if args.delete {
        anyhow::ensure!(file.delete(&args.user), "user `{}` is not in {}", args.user, args.file.display());
    } else {
        let password = match args.password {
            Some(p) => p,
            None => {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).context("cannot read the password")?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            }
        };
        anyhow::ensure!(!password.is_empty(), "empty password");
        file.set(&args.user, hash_password(password.as_bytes())?)?;
    }
    file.save(&args.file)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let opts = Cli::parse();
    match opts.command {
        Some(Command::Bench(args)) => {
            let json = args.json;
            let report = aviary::bench::run(args)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", report.summary_line());
            }
            return Ok(());
        }
        Some(Command::Pub(args)) => std::process::exit(cli::run(cli::publish::run(args))),
        Some(Command::Sub(args)) => std::process::exit(cli::run(cli::subscribe::run(args))),
        Some(Command::Passwd(args)) => return passwd(args),
        None => {}
    }
    if opts.print_default_config {
        print!("{DEFAULT_CONFIG_TOML}");
        return Ok(());
    }
    let mut config = match &opts.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    override_listeners(&mut config, &opts.listen);
    let log_level = init_logging(&config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    // Watch the signals before starting: a SIGHUP right after the port opens must reload,
    // not end the process (its default action).
    let signals = runtime.block_on(async { Signals::new() })?;
    let broker = Broker::start(config.clone()).context("cannot start the broker")?;
    let reload =
        Reload { path: opts.config.clone(), listen: opts.listen, level: config.log.level.clone(), log_level };
    runtime.block_on(wait_for_signal(signals, reload, &broker));
    tracing::info!("signal received, stopping");
    // A safety net: the broker bounds its own shutdown; should it hang anyway, leave.
    let grace = std::time::Duration::from_secs(config.limits.shutdown_timeout_secs + 5);
    std::thread::spawn(move || {
        std::thread::sleep(grace);
        eprintln!("aviary: shutdown did not finish in time, exiting");
        std::process::exit(1);
    });
    broker.stop();
    tracing::info!("stopped");
    Ok(())
}

/// `--listen` replaces the configured TCP listeners (at startup and at every reload).
fn override_listeners(config: &mut Config, listen: &[SocketAddr]) {
    if listen.is_empty() {
        return;
    }
    config.listeners.retain(|l| l.kind != ListenerKind::Tcp);
    for (i, addr) in listen.iter().enumerate() {
        config.listeners.push(ListenerConfig {
            name: format!("listen-{i}"),
            bind: *addr,
            ..ListenerConfig::default()
        });
    }
}

type LevelHandle =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

fn init_logging(config: &Config) -> LevelHandle {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => registry.with(fmt).init(),
        LogFormat::Json => registry.with(fmt.json()).init(),
    }
    handle
}

/// What SIGHUP needs: the file to read again, the command line's overrides, and the log
/// filter to swap (with the level in force).
struct Reload {
    path: Option<PathBuf>,
    listen: Vec<SocketAddr>,
    level: String,
    log_level: LevelHandle,
}

impl Reload {
    /// Reads the configuration again and applies what can change while running: the log
    /// level here; TLS certificates, `[auth]` and the plugins in the broker, which names
    /// every other changed table (those need a restart).
    fn apply(&mut self, broker: &aviary::BrokerHandle) {
        let Some(path) = &self.path else {
            tracing::info!("SIGHUP: no configuration file to reload; reloading TLS certificates");
            // Errors are logged by reload_tls; the broker keeps running on the old files.
            let _ = broker.reload_tls();
            return;
        };
        let mut new = match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: configuration not reloaded; reloading TLS certificates");
                let _ = broker.reload_tls();
                return;
            }
        };
        override_listeners(&mut new, &self.listen);
        if new.log.level != self.level {
            match self.log_level.reload(tracing_subscriber::EnvFilter::new(&new.log.level)) {
                Ok(()) => tracing::info!(level = %new.log.level, "SIGHUP: log level changed"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: cannot change the log level"),
            }
            self.level = new.log.level.clone();
        }
        let report = broker.reload(&new);
        if report.restart_needed.is_empty() && report.failed.is_empty() {
            tracing::info!(applied = ?report.applied, "SIGHUP: configuration reloaded");
        }
    }
}

/// The signals the broker answers to.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts watching (inside the runtime that will wait for them).
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot watch SIGHUP")?,
        })
    }
}

/// Waits for SIGTERM or SIGINT; each SIGHUP meanwhile reloads what can change while running
/// (log level, TLS certificates, `[auth]`, plugins) and names what needs a restart.
async fn wait_for_signal(mut s: Signals, mut reload: Reload, broker: &aviary::BrokerHandle) {
    loop {
        tokio::select! {
            _ = s.term.recv() => return,
            _ = s.int.recv() => return,
            _ = s.hup.recv() => reload.apply(broker),
        }
    }
}
