//! The command line, following krakend's: `run -c FILE [-d] [-p PORT]`,
//! `check -c FILE [-d] [-t] [--lint]`, `version`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::{self, Format, Loaded};
use crate::router::{Gateway, VERSION};
use crate::{components, server, telemetry};

#[derive(Parser, Debug)]
#[command(name = "tentacle", version = VERSION, about = "A KrakenD-compatible API gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway.
    Run {
        /// Path to the configuration file (JSON or YAML). Without it, an embedded demo runs.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// Enable the /__debug/ endpoint.
        #[arg(short = 'd', long = "debug")]
        debug: bool,
        /// Listen on this port instead of the configured one.
        #[arg(short = 'p', long = "port")]
        port: Option<u16>,
    },
    /// Validate a configuration file.
    #[command(alias = "validate")]
    Check {
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// Also enable the /__debug/ endpoint while building routes.
        #[arg(short = 'd', long = "debug")]
        debug: bool,
        /// Print "Routes OK!" once the router is built (routes are always checked).
        #[arg(short = 't', long = "test-gin-routes")]
        test_routes: bool,
        /// Fail on unknown keys (in namespaces too) and on namespaces not acted on as well.
        #[arg(short = 'l', long = "lint")]
        lint: bool,
    },
    /// Print the version.
    Version,
}

/// The configuration served when `run` has no `-c`.
pub const DEFAULT_CONFIG: &str = include_str!("default.json");

/// Runs the CLI; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Version => {
            println!("Tentacle Version {VERSION} (KrakenD configuration version 3 and 2)");
            0
        }
        Command::Check {
            config,
            debug,
            test_routes,
            lint,
        } => check(&config, debug, test_routes, lint),
        Command::Run {
            config,
            debug,
            port,
        } => run(config, debug, port),
    }
}

fn check(path: &std::path::Path, debug: bool, test_routes: bool, lint: bool) -> i32 {
    println!("Parsing configuration file: {}", path.display());
    let loaded = match config::load_file(path) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs.0 {
                eprintln!("ERROR: {e}");
            }
            eprintln!("{} error(s) found", errs.0.len());
            return 1;
        }
    };
    let text = json_text(path);
    let neglected = namespace_warnings(&loaded, &path.display().to_string(), &text);
    // with --lint, what KrakenD's lint would refuse fails the check: unknown keys and values,
    // unknown or misplaced namespaces, and the KrakenD CE ones this build does not act on. An
    // Enterprise namespace stays a warning: KrakenD CE accepts and ignores it too
    let unknown_keys = key_warnings(&loaded, &path.display().to_string(), &text);
    let mut problems = 0;
    let warnings = loaded.warnings.iter().map(|w| (true, w));
    let namespaces = neglected.iter().map(|(u, w)| (u.fails_lint(), w));
    let keys = unknown_keys.iter().map(|w| (true, w));
    for (fails_lint, w) in warnings.chain(namespaces).chain(keys) {
        if lint && fails_lint {
            eprintln!("lint: {w}");
            problems += 1;
        } else {
            println!("WARNING: {w}");
        }
    }
    // every component, certificate and route is built as `run` builds them, so whatever
    // would stop `run` stops `check` too
    if let Err(errs) = crate::app::build(loaded.config.clone(), debug) {
        for e in &errs {
            eprintln!("ERROR: {}: {e}", path.display());
        }
        return 1;
    }
    if test_routes {
        println!("Routes OK!");
    }
    if problems > 0 {
        eprintln!("lint: {problems} problem(s) found");
        return 1;
    }
    println!("Syntax OK!");
    0
}

/// One warning for each namespace this build does not act on where the file has it, naming
/// the file (and the line, for JSON text), the endpoint or backend, and what runs without it.
fn namespace_warnings(
    loaded: &Loaded,
    file: &str,
    text: &str,
) -> Vec<(components::Unsupported, String)> {
    let neglected = components::unsupported(&loaded.config);
    if neglected.is_empty() {
        return Vec::new();
    }
    // a YAML file's warnings name no line (positions are found in JSON text)
    let positions = config::position::PositionIndex::build(text);
    neglected
        .into_iter()
        .map(|u| {
            let at = match positions.find(&format!("{}.{}", u.path, u.namespace)) {
                Some((line, col)) => format!("{file}:{line}:{col}"),
                None => file.to_string(),
            };
            let w = format!("{at}: {u}");
            (u, w)
        })
        .collect()
}

/// One warning for each key inside a namespace that its component does not read, naming the
/// file and line (for JSON text), the key's JSON path and the closest known key.
fn key_warnings(loaded: &Loaded, file: &str, text: &str) -> Vec<String> {
    let unknown = components::unknown_keys(&loaded.config);
    if unknown.is_empty() {
        return Vec::new();
    }
    let positions = config::position::PositionIndex::build(text);
    unknown
        .into_iter()
        .map(|mut u| {
            // the file may write the namespace under its KrakenD 1.x name
            let legacy = config::legacy::NAMESPACE_ALIASES
                .iter()
                .filter(|(_, v3)| *v3 == u.namespace)
                .map(|(old, _)| *old);
            let extra = u.extra_config.clone();
            if let Some(written) = std::iter::once(u.namespace.as_str())
                .chain(legacy)
                .find(|ns| positions.get(&format!("{extra}.{ns}")).is_some())
            {
                u.written = written.to_string();
            }
            match positions.find(&u.path()) {
                Some((line, col)) => format!("{file}:{line}:{col}: {u}"),
                None => format!("{file}: {u}"),
            }
        })
        .collect()
}

/// A JSON file's text (for the lines of its warnings); empty for YAML or an unreadable file.
fn json_text(path: &std::path::Path) -> String {
    match Format::from_path(path) {
        Format::Json => std::fs::read_to_string(path).unwrap_or_default(),
        Format::Yaml => String::new(),
    }
}

/// The loaded configuration, its name and its JSON text.
fn load_for_run(
    path: &Option<PathBuf>,
    port: Option<u16>,
) -> crate::error::Result<(Loaded, String, String)> {
    match path {
        Some(p) => config::load_file(p)
            .map(|l| (l, p.display().to_string(), json_text(p)))
            .map_err(crate::error::Error::wrap),
        None => {
            let port = port.unwrap_or(config::DEFAULT_PORT);
            let text = DEFAULT_CONFIG.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
            config::load_str(&text, "<embedded default>", Format::Json, &|_| None)
                .map(|l| (l, "<embedded default>".to_string(), text))
                .map_err(crate::error::Error::wrap)
        }
    }
}

/// How many threads serve requests: `GOMAXPROCS` when set to a positive number (the variable
/// that bounds KrakenD's CPUs, so a deployment that sets it gets the same from Tentacle), else
/// the CPUs this process may use (its affinity and its cgroup's quota).
fn worker_threads(gomaxprocs: Option<&str>) -> usize {
    gomaxprocs
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Starts the `telemetry/metrics` listener, unless absent or `endpoint_disabled`; returns its
/// address and task. As KrakenD does, a listener that cannot start is logged and the gateway
/// runs on.
pub async fn start_metrics(
    gw: &Gateway,
) -> Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let reg = gw.metrics.clone()?;
    if reg.config.endpoint_disabled {
        return None;
    }
    match components::telemetry::metrics::bind(&reg).await {
        Ok(listener) => {
            let addr = listener.local_addr().ok()?;
            tracing::info!("[SERVICE: Stats] Listening on {addr}");
            Some((
                addr,
                tokio::spawn(components::telemetry::metrics::serve(reg, listener)),
            ))
        }
        Err(e) => {
            tracing::error!("[SERVICE: Stats] {e}");
            None
        }
    }
}

fn run(path: Option<PathBuf>, debug: bool, port: Option<u16>) -> i32 {
    let (loaded, source, text) = match load_for_run(&path, port) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    telemetry::init(&telemetry::LogSettings::from_extra(
        &loaded.config.extra_config,
    ));
    if path.is_none() {
        tracing::info!(
            "no -c given: serving the embedded default configuration (try GET /demo and /__health)"
        );
    }
    tracing::info!("Tentacle Version {VERSION}: starting with {source}");
    for w in &loaded.warnings {
        tracing::debug!("{w}");
    }
    // a namespace the gateway does not act on never stops it (KrakenD ignores them too), but
    // a misspelt `auth/validator` leaves an endpoint open: each one is named
    for (_, w) in namespace_warnings(&loaded, &source, &text) {
        tracing::warn!("{w}");
    }
    // a key its component does not read is ignored as KrakenD ignores it, and named
    for w in key_warnings(&loaded, &source, &text) {
        tracing::warn!("{w}");
    }
    let workers = worker_threads(std::env::var("GOMAXPROCS").ok().as_deref());
    let mut builder = if workers == 1 {
        // one CPU: the gateway runs on this thread alone. A process with a single thread takes
        // the kernel's and the C library's single-threaded paths on every socket call (no
        // reference count on the file per call, no cancellation bookkeeping), which a second,
        // idle thread would turn off for good
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    tracing::debug!("{workers} worker thread(s)");
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let gw = match crate::app::build(loaded.config, debug) {
            Ok(g) => Arc::new(g),
            Err(errs) => {
                for e in &errs {
                    tracing::error!("{source}: {e}");
                    eprintln!("ERROR: {source}: {e}");
                }
                return 1;
            }
        };
        let listener = match server::bind(&gw, port).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot listen: {e}");
                eprintln!("ERROR: cannot listen: {e}");
                return 1;
            }
        };
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("[SERVICE: Tentacle] Listening on {addr}");
        }
        let _stats = start_metrics(&gw).await;
        server::serve(gw, listener, server::shutdown_signal()).await;
        tracing::info!("[SERVICE: Tentacle] stopped");
        0
    })
}

#[cfg(test)]
mod tests {
    use super::worker_threads;

    #[test]
    fn gomaxprocs_sets_the_worker_threads() {
        assert_eq!(worker_threads(Some("1")), 1);
        assert_eq!(worker_threads(Some(" 3 ")), 3);
    }

    #[test]
    fn without_a_usable_gomaxprocs_the_cpus_decide() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for v in [None, Some(""), Some("0"), Some("-2"), Some("all")] {
            assert_eq!(worker_threads(v), cpus, "{v:?}");
        }
    }
}
