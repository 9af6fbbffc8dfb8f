//! `tessera serve`: runs the STAC server until Ctrl-C or SIGTERM.

use std::path::Path;

use std::time::Duration;

use anyhow::Context;
use tessera_server::{ClientHeader, Options, Proxies, Server};

use crate::args::{ClientHeaderArg, ServeArgs};

pub fn run(inventory: &Path, args: &ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut options = Options::new(inventory.to_owned(), args.listen);
    options.base_url = args.base_url.clone();
    options.web_dir = Some(args.web.clone());
    options.base_path = args.base_path.clone();
    options.access_log = args.access_log;
    options.token_key = token_key(args)?;
    options.admin_listen = args.admin_listen;
    options.shutdown_grace = Duration::from_secs_f64(args.shutdown_grace);
    options.proxies = Proxies {
        trusted: args.trust_proxy.clone(),
        header: match args.client_header {
            ClientHeaderArg::XForwardedFor => ClientHeader::XForwardedFor,
            ClientHeaderArg::Forwarded => ClientHeader::Forwarded,
        },
        proxy_protocol: args.proxy_protocol,
    };
    let seconds = Duration::from_secs;
    options.limits = tessera_server::Limits {
        header_read: seconds(args.request_timeout),
        body_read: seconds(args.request_timeout),
        write_stall: seconds(args.write_timeout),
        idle: seconds(args.idle_timeout),
        connections: args.max_connections.max(1),
        per_client: args.max_per_client.max(1),
        page_cache: args.page_cache.saturating_mul(1 << 20),
        queue_timeout: Duration::from_secs_f64(args.queue_timeout),
        request_cpu: Duration::from_secs_f64(args.max_request_cpu),
        ..tessera_server::Limits::default()
    };
    raise_open_file_limit(options.limits.connections);
    keep_freed_memory_returned();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = args.threads.unwrap_or(2 * cores).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        // A busy worker looks for I/O every `event_interval` tasks (61 by default): with every
        // worker streaming, a new connection or request waited that long to be seen. 11 took
        // the worst /healthz under the hostile-load test from 22-35 ms to 13-21 ms.
        .event_interval(11)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let served: anyhow::Result<()> = runtime.block_on(async {
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
        if let Some(admin) = server.admin_addr()? {
            tracing::info!("admin listener (metrics, copy lists, storage) on http://{admin}{prefix}/");
        }
        server.run(first_signal()?).await?;
        tracing::info!("stopped");
        Ok(())
    });
    // Work still running on the pool after the grace (cut requests stop at their next check)
    // is not waited for.
    runtime.shutdown_background();
    served
}

/// Completes at the first SIGTERM or SIGINT; from then on, a second one ends the process at
/// once (exit status 128 + the signal's number, as a shell reports a process killed by it).
fn first_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tokio::spawn(async move {
            let status = tokio::select! {
                _ = terminate.recv() => 128 + libc::SIGTERM,
                _ = interrupt.recv() => 128 + libc::SIGINT,
            };
            tracing::warn!("a second signal: stopping at once");
            std::process::exit(status);
        });
    })
}

/// Raises the soft limit on open files to the hard one, as a server should: each connection
/// is a descriptor, and the usual soft limit (1,024, systemd's default too) is below
/// --max-connections plus the listener, the indexes and the files being served. Warns when
/// even the hard limit is short; accepting then fails and is retried, slowed.
#[allow(unsafe_code)]
fn raise_open_file_limit(connections: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    let needed = connections as u64 + SPARE_DESCRIPTORS;
    if limit.rlim_cur < needed {
        tracing::warn!(
            "open files are limited to {} (--max-connections {connections} needs about {needed}): \
             raise the limit (LimitNOFILE= in a systemd unit, ulimit -n) or lower --max-connections",
            limit.rlim_cur
        );
    }
}

/// Tunes glibc's malloc for a server whose requests allocate and free in bursts on many
/// threads. By default each thread's arena keeps what it freed, and a freed large block raises
/// the size above which blocks are mapped (so later large blocks stay in the arenas too): under
/// tests/hostile.rs the resident set grew to three times what was live. Two arenas, and blocks
/// of 128 KB and more always mapped (returned to the system when freed), keep it near what is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn keep_freed_memory_returned() {
    // SAFETY: mallopt only sets the allocator's parameters; called before the threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory_returned() {}

/// Descriptors besides connections: the listener, mapped indexes, files being served, logs.
const SPARE_DESCRIPTORS: u64 = 64;

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

/// Logs go to stderr; `RUST_LOG` chooses what (default: info). Colours only on a terminal: a
/// log file or journald gets plain lines.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
