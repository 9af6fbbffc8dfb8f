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
    options.access_log = args.access_log;
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
        tracing::info!("serving {} on http://{addr}/ (map: /map/, OpenAPI: /api)", inventory.display());
        server.run(shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Logs go to stderr; `RUST_LOG` chooses what (default: info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
