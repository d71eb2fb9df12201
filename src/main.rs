//! The `aviary` binary: parses the command line, loads the configuration, sets up logging,
//! starts the broker and waits for a signal. `anyhow` lives only here.

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    use aviary::cli::passwd::{hash_password, PasswordFile};
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
    let cli = Cli::parse();
    if let Some(Command::Passwd(args)) = cli.command {
        return passwd(args);
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
