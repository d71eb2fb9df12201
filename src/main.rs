//! The `aviary` binary: parses the command line, loads the configuration, sets up logging,
//! starts the broker and waits for a signal (SIGHUP reloads TLS certificates). `aviary pub`
//! and `aviary sub` are command-line clients ([`cli`]). `anyhow` lives only here.

mod cli;

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

/// Command-line clients (see docs/cli.md).
#[derive(Subcommand, Debug)]
enum Command {
    /// Publish messages, like mosquitto_pub.
    #[command(disable_help_flag = true)]
    Pub(cli::publish::PubArgs),
    /// Subscribe and print messages, like mosquitto_sub.
    #[command(disable_help_flag = true)]
    Sub(cli::subscribe::SubArgs),
}

fn main() -> anyhow::Result<()> {
    let opts = Cli::parse();
    match opts.command {
        Some(Command::Pub(args)) => std::process::exit(cli::run(cli::publish::run(args))),
        Some(Command::Sub(args)) => std::process::exit(cli::run(cli::subscribe::run(args))),
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
    if !opts.listen.is_empty() {
        config.listeners.retain(|l| l.kind != ListenerKind::Tcp);
        for (i, addr) in opts.listen.iter().enumerate() {
            config.listeners.push(ListenerConfig {
                name: format!("listen-{i}"),
                bind: *addr,
                ..ListenerConfig::default()
            });
        }
    }
    init_logging(&config);
    let broker = Broker::start(config).context("cannot start the broker")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    runtime.block_on(wait_for_signal(&broker))?;
    tracing::info!("signal received, stopping");
    broker.stop();
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Waits for SIGTERM or SIGINT; each SIGHUP meanwhile reloads the TLS certificates.
async fn wait_for_signal(broker: &aviary::BrokerHandle) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {
                tracing::info!("SIGHUP received, reloading TLS certificates");
                // Errors are logged by reload_tls; the broker keeps running on the old files.
                let _ = broker.reload_tls();
            }
        }
    }
}
