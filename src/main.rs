//! The `aviary` binary: parses the command line, loads the configuration, sets up logging,
//! starts the broker and waits for a signal. `anyhow` lives only here.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use aviary::config::{Config, ListenerConfig, ListenerKind, LogFormat, DEFAULT_CONFIG_TOML};
use aviary::Broker;
use clap::Parser;

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
    #[command(subcommand)]
    command: Option<Command>,
}

/// Tools that come with the broker.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Load generator: throughput, latency, loss and memory per connection of any MQTT broker.
    Bench(aviary::bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Bench(args)) = cli.command {
        let json = args.json;
        let report = aviary::bench::run(args)?;
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{}", report.summary_line());
        }
        return Ok(());
    }
    if cli.print_default_config {
        print!("{DEFAULT_CONFIG_TOML}");
        return Ok(());
    }
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if !cli.listen.is_empty() {
        config.listeners.retain(|l| l.kind != ListenerKind::Tcp);
        for (i, addr) in cli.listen.iter().enumerate() {
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
    runtime.block_on(wait_for_signal())?;
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

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    Ok(())
}
