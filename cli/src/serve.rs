//! `tessera serve`: runs the STAC server until Ctrl-C or SIGTERM.

use std::path::Path;

use anyhow::Context;
use tessera_server::{Options, Server, shutdown_signal};

use crate::args::ServeArgs;

pub fn run(inventory: &Path, args: &ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut options = Options::new(inventory.to_owned(), args.listen);
    options.base_url = args.base_url.clone();
    options.web_dir = Some(args.web.clone());
    options.base_path = args.base_path.clone();
    options.access_log = args.access_log;
    options.token_key = token_key(args)?;
    let seconds = std::time::Duration::from_secs;
    options.limits = tessera_server::Limits {
        header_read: seconds(args.request_timeout),
        body_read: seconds(args.request_timeout),
        write_stall: seconds(args.write_timeout),
        idle: seconds(args.idle_timeout),
        connections: args.max_connections.max(1),
        per_client: args.max_per_client.max(1),
        ..tessera_server::Limits::default()
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = args.threads.unwrap_or(2 * cores).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let server = Server::bind(options).await?;
        let addr = server.local_addr()?;
        if !args.web.join("index.html").is_file() {
            tracing::info!("the map is not built ({} has no index.html): run scripts/build-web.sh", args.web.display());
        }
        let prefix = args.base_path.trim_end_matches('/');
        tracing::info!(
            "serving {} on http://{addr}{prefix}/ (map: {prefix}/map/, OpenAPI: {prefix}/api)",
            inventory.display()
        );
        server.run(shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The key from --token-key-file or TESSERA_TOKEN_KEY (64 hex digits), if given.
fn token_key(args: &ServeArgs) -> anyhow::Result<Option<[u8; 32]>> {
    let (text, from) = match (&args.token_key_file, std::env::var("TESSERA_TOKEN_KEY")) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            (text, path.display().to_string())
        }
        (None, Ok(text)) => (text, "TESSERA_TOKEN_KEY".to_owned()),
        (None, Err(_)) => return Ok(None),
    };
    let key = tessera_engine::inventory::parse_secret(text.trim()).with_context(|| {
        format!("{from}: expected 64 hexadecimal digits (32 bytes), as `openssl rand -hex 32` prints")
    })?;
    Ok(Some(key))
}

/// Logs go to stderr; `RUST_LOG` chooses what (default: info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
