//! The command line, as clap parses it. `--help` on each command is the user's manual.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tessera_engine::grid::Year;
use tessera_engine::storage::CopyTool;

/// Keep GeoTessera tile stores in sync without listing them: tessera keeps an index of what
/// each store holds, so a sync is a set difference on metadata, not a filesystem walk.
///
/// Start with `tessera init --demo demo && tessera --inventory demo status`.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, max_term_width = 100)]
pub struct Cli {
    /// The inventory directory (tessera.toml, registry.parquet, stores/).
    #[arg(long, global = true, env = "TESSERA_INVENTORY", default_value = "inventory", value_name = "DIR")]
    pub inventory: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an inventory. With --demo, a generated one of about 3.8M tiles and 3 stores.
    Init(InitArgs),
    /// Copy an upstream registry into the inventory (checked first; replaced atomically).
    Import(ImportArgs),
    /// Replace STORE's manifest with the tiles of a parquet file someone else wrote: the upstream
    /// registry (the primary holds what it lists), another inventory's manifest, or any parquet
    /// with `year` and `lon_i, lat_i` (or `lon, lat`), and optional `file_size` (or
    /// `grid_size`) and `scales_size`. Checked like `import`; any parquet compression.
    #[command(after_help = "Examples:\n  \
        tessera ingest okavango registry.parquet\n  \
        tessera ingest s3 /srv/other-inventory/stores/s3.parquet")]
    Ingest(IngestArgs),
    /// List the stores: role, storage, public URL, tiles.
    Stores(StoresArgs),
    /// Show what the registry lists, what each store holds, and what each store is missing.
    Status(StatusArgs),
    /// Report, from the manifests alone, zero sizes, unknown sizes, sizes that differ from the
    /// registry and tiles the registry lacks. Exits 1 on zero or differing sizes (and, with
    /// --strict, on tiles outside the registry): a cron job alerts only on damage.
    Check(CheckArgs),
    /// Check a store's files against the registry's hashes, each tile's SHA256 file and the
    /// checksums `tessera hash` recorded (the first that can say): a directory by reading each
    /// file once, an S3 store by the checksums S3 keeps (HEADs, no byte read). Damaged tiles
    /// are removed from the store, so the next `diff` sends them again; files nothing could
    /// check are named (exit 1). Resumes where an interrupted run stopped; --shard I/N
    /// splits the work among machines. Exits 1 when it finds damage.
    Verify(VerifyArgs),
    /// Read each of a store's files once and record its SHA-256, CRC64NVME (and MD5) in the
    /// inventory, for `verify` to check any copy against: a mirror by reading it, an S3 store
    /// by the checksums S3 keeps (no byte read). Files unchanged since they were hashed (same
    /// size and modification time) are skipped. Exits 1 when a tile could not be hashed.
    Hash(HashArgs),
    /// Print the tiles SOURCE holds and TARGET lacks, one copy-list key per line, in id order.
    ///
    /// SOURCE may be `registry`: what should exist and TARGET lacks. With --emit-copylist the
    /// lines are what the copy tool for the pair of storages reads: `s5cmd run` commands when S3
    /// is on either side, an `rsync --files-from` list between two directories.
    #[command(after_help = "Examples:\n  \
        tessera diff okavango scaleway --count\n  \
        tessera diff registry okavango                     # what the primary should hold and lacks\n  \
        tessera diff okavango s3 --year 2024 --bbox 0,45,10,55\n  \
        tessera diff okavango s3 --emit-copylist | s5cmd run\n  \
        tessera diff okavango scaleway --emit-copylist > list && rsync -a -r --files-from=list /data/v1/ /mnt/cephfs/v1/\n  \
        tessera diff okavango scaleway --format cp | xargs -d '\\n' -n 1 -P 8 sh -c")]
    Diff(DiffArgs),
    /// Print the tiles a CQL2 filter selects among those the registry lists, one key per line
    /// in id order (or their number). The filter speaks of items as the STAC API renders them:
    /// `tessera:stores`, `geometry`, `datetime`, `year`, `collection`, `id`, `grid:code`,
    /// `tessera:bytes`; store membership, places, years and ids are answered from bitmaps.
    #[command(after_help = "Examples:\n  \
        tessera select \"NOT a_contains(tessera:stores, ('scaleway')) AND year = 2024\" --count\n  \
        tessera select \"s_intersects(geometry, BBOX(0, 45, 10, 55)) AND a_contains(tessera:stores, ('okavango'))\"\n  \
        tessera select \"tessera:bytes > 120000000\" --ids")]
    Select(SelectArgs),
    /// Build STORE's manifest and index from listing text (files, `-` for stdin, gzip or not).
    ///
    /// The format of each listing is detected: `s5cmd ls` (any columns, --show-fullpath),
    /// `s5cmd --json ls`, `find -printf '%s %p\n'`, bare `find` paths, `aws s3 ls --recursive`,
    /// `rclone ls`, `lsl`, `lsf` and `lsjson`. A tile is present when both .npy files are
    /// listed with non-zero sizes, and its SHA256 file too when the listing shows SHA256 files.
    #[command(after_help = "Examples:\n  \
        s5cmd ls 's3://tessera-embeddings/v1/global_0.1_degree_representation/*' | tessera scan s3\n  \
        find /data/tessera/v1 -type f -printf '%s %p\\n' | gzip > okavango.txt.gz && tessera scan okavango okavango.txt.gz\n  \
        s5cmd ls 's3://bucket/v1/global_0.1_degree_representation/2024/*' | tessera scan s3 --year 2024\n  \
        s5cmd ls 's3://bucket/v1/global_0.1_degree_representation/2024/grid_1*' | tessera scan s3 --year 2024 --prefix grid_1\n\n\
        A scan replaces what the store holds (or, with --year or --prefix, that part of it), keeping\n\
        the records `tessera record` and `tessera sync` made after the listing was taken: from\n\
        standard input, when the scan started; from a file, when the file was created.")]
    Scan(ScanArgs),
    /// Mark tiles as present in STORE after a copy: safe to repeat, durable once it returns.
    ///
    /// Reads copy-list keys (2024/grid_0.85_49.95), item ids, tile folder or file paths, the
    /// `s5cmd run` command lines of a copy list, or s5cmd's own output: a tile is recorded only
    /// when it is named whole or both of its .npy files were reported copied, and never when
    /// an ERROR line names it. Records go to an fsynced journal (folded into the manifest now
    /// and then), so a crash never loses an acknowledged record.
    #[command(after_help = "Examples:\n  \
        tessera diff okavango s3 --emit-copylist | s5cmd run 2>&1 | tessera record s3\n  \
        tessera record scaleway copied-keys.txt")]
    Record(RecordArgs),
    /// Copy what TARGET lacks from SOURCE, and record each tile in TARGET once its copy is
    /// confirmed.
    ///
    /// The diff comes from the inventory (no listing); the copy from the tool for the pair of
    /// storages: `s5cmd` when S3 is on a side (its per-object output confirms each file),
    /// `rsync` between two directories (each tile's files compared by size afterwards, and a
    /// symbolic link never taken for a copy: see --copy-links). Chunks
    /// of --chunk tiles go to one tool process each, --jobs at a time; each chunk's confirmed
    /// tiles are recorded (fsynced) as it ends, with the sizes copied. A failed tile is never
    /// recorded: it is tried again --retries times, pausing --retry-delay seconds (doubling),
    /// then listed, and the exit status is 1. Killed at any moment, the next `tessera sync`
    /// sends only what is left. Only tiles the registry lists are sent, unless
    /// --include-unlisted.
    #[command(after_help = "Examples:\n  \
        tessera sync okavango scaleway --dry-run       # what, how much, and the listing avoided\n  \
        tessera sync okavango s3 --jobs 8              # S3_ENDPOINT_URL, AWS_PROFILE reach s5cmd\n  \
        tessera sync s3 okavango --year 2024           # refill the primary from a mirror\n  \
        tessera sync okavango scaleway --stale         # also re-send tiles whose sizes differ")]
    Sync(SyncArgs),
    /// Salvage STORE's damaged record journal: every valid record is kept in a new journal,
    /// the damaged one is set aside whole (stores/NAME.journal.damaged-TIME), and what was
    /// lost is named. Needed when a command reports "journal ... is damaged at byte N".
    Repair(RepairArgs),
    /// Serve the inventory as a STAC API, with coverage bitmaps and the map (under /map/).
    ///
    /// Every registry tile is an item of its year's collection (geotessera-2024), with an
    /// href on each store that holds it. Ready in milliseconds: nothing is loaded but the
    /// memory-mapped indexes. Reloads by itself when `record`, `scan` or `import` change the
    /// inventory, and never writes it (a read-only mount serves). Every request's work is
    /// bounded (what it may name, how long it waits for the heavy-work pool, how much CPU it
    /// takes); behind a proxy, --trust-proxy counts each visitor apart. On Ctrl-C or SIGTERM
    /// it lets answers finish for --shutdown-grace, then exits; a second signal exits at once.
    #[command(after_help = "Examples:\n  \
        tessera --inventory demo serve\n  \
        tessera serve --listen 0.0.0.0:8080 --base-url https://stac.example.org --admin-listen 127.0.0.1:9090\n  \
        tessera serve --base-path /api --base-url https://example.org/api --trust-proxy 127.0.0.1,::1   # behind Caddy (deploy/Caddyfile)\n  \
        tessera serve --listen 0.0.0.0:8080 --proxy-protocol   # behind HAProxy's send-proxy or an AWS NLB\n  \
        curl 'http://127.0.0.1:8080/search?bbox=0.5,49.5,1.5,50.5&limit=2'")]
    Serve(ServeArgs),
    /// Write the map's data as static files into DEST, for any web server or CDN to serve
    /// without a tessera process: each store's coverage per year and the gap layers (what each
    /// store lacks of the registry, what each mirror lacks of the primary), rendered by the
    /// same code as `tessera serve`'s `/coverage`. Files whose bytes are unchanged are not
    /// written again; each written one replaces the old atomically.
    #[command(after_help = "Examples:\n  \
        tessera publish /var/www/tessera\n  \
        tessera publish site --dry-run     # what would be written")]
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The store whose journal is damaged.
    pub store: String,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The store to copy from (usually the primary).
    pub source: String,

    /// The store to copy to.
    pub target: String,

    /// Only these years (repeat the flag or separate with commas).
    #[arg(long, value_name = "YEAR", value_delimiter = ',')]
    pub year: Vec<Year>,

    /// Only tiles whose footprint overlaps this box: west,south,east,north in degrees.
    #[arg(long, value_name = "W,S,E,N", allow_hyphen_values = true)]
    pub bbox: Option<String>,

    /// Copy processes running at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,

    /// Tiles per copy process; each chunk is recorded as it ends.
    #[arg(long, value_name = "N", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub chunk: u64,

    /// Print the plan (tiles, bytes, copy requests, the listing a full sync would need) and
    /// copy nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Times a failed tile is tried again.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Seconds before the first retry; each next one waits twice as long.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub retry_delay: f64,

    /// Also send tiles TARGET holds with sizes that differ from SOURCE's.
    #[arg(long)]
    pub stale: bool,

    /// Also send tiles the registry does not list.
    #[arg(long)]
    pub include_unlisted: bool,

    /// The copy tool, instead of the one for the pair (`cp` instead of `rsync`, say).
    #[arg(long, value_enum)]
    pub tool: Option<Tool>,

    /// Copy the files SOURCE's symbolic links point to, not the links (`rsync --copy-links`,
    /// `cp --dereference`).
    ///
    /// Without it a link is never a copy: `rsync -a` and `cp -a` copy a linked file as a
    /// link, which would leave TARGET holding no byte of its own, so a tile whose folder or
    /// files are links, at SOURCE or at TARGET, fails with the reason and is never recorded. Use it when SOURCE is built of links on purpose (tile files linked in
    /// from another disk or dataset): each tile's files are then checked against what SOURCE's
    /// links point to, and TARGET must hold files of its own. `s5cmd` always uploads what a
    /// link points to: an object is never a link.
    #[arg(long)]
    pub copy_links: bool,

    /// Copy shard I of N (counting from 0): the tiles whose id is I modulo N, so that N
    /// processes on N hosts copy each tile once. Each records what it copied into the same
    /// inventory, under the target store's lock, as it lands: the inventory must be on a
    /// file system every host reaches with working locks (a local disk, CephFS, NFSv4).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
}

/// A copy tool `tessera sync` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Rsync,
    Cp,
    S5cmd,
}

impl From<Tool> for CopyTool {
    fn from(tool: Tool) -> CopyTool {
        match tool {
            Tool::Rsync => CopyTool::Rsync,
            Tool::Cp => CopyTool::Cp,
            Tool::S5cmd => CopyTool::S5cmd,
        }
    }
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The site's directory (made when missing).
    pub dest: PathBuf,
    /// Say what would be written, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// A second address, for the operator: /metrics, /copylist and the stores' storage (local
    /// paths, bucket names) in /coverage are answered there and no longer on --listen (404,
    /// and /coverage without storage). Without it, --listen answers everything; keep it on
    /// loopback or a private network.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<std::net::SocketAddr>,

    /// The public URL clients reach the API at (every link starts with it); default
    /// `http://ADDR`.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// The path the API and map are served under behind a reverse proxy that passes it on
    /// (`/geotessera`: the landing page at /geotessera/, the map at /geotessera/map/).
    #[arg(long, value_name = "PATH", default_value = "")]
    pub base_path: String,

    /// The built web app (scripts/build-web.sh writes it), served under /map/.
    #[arg(long, value_name = "DIR", default_value = "target/web")]
    pub web: PathBuf,

    /// Log one line per request on stderr (the client's address, behind a trusted proxy the
    /// one it names).
    #[arg(long)]
    pub access_log: bool,

    /// Worker threads; default twice the cores. A search response spends about half its CPU
    /// time in the kernel sending it, and spare runnable threads keep the cores busy meanwhile
    /// (measured on 2 cores: about 10% more requests per second than one thread a core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Seconds a client may take to send a request's head, and its body (a client that
    /// drips one is answered 408 and cut off).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub request_timeout: u64,

    /// Seconds a response may wait for a client that stops reading it; then the connection
    /// ends.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub write_timeout: u64,

    /// Seconds a connection may stay silent (between requests, or in the middle of one). A
    /// client is not silent while the server works on its request, however long that takes.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub idle_timeout: u64,

    /// Connections served at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,

    /// What one client may hold at once, a client being an IPv4 address or an IPv6 /64:
    /// connections when it connects directly (more are closed on arrival), requests being
    /// answered when it comes through a --trust-proxy peer (more are answered 429).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_per_client: usize,

    /// Seconds a heavy request (a geometry, a page of more than 100 items, chosen fields, a
    /// copy list, a coverage bitmap not yet made) may wait for the pool's permits (one a
    /// core). Past it: 503 with Retry-After: 1, counted in /metrics. Long enough to ride out
    /// a burst, short enough that a client or the proxy in front tries again rather than
    /// waits on a server that is behind.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds)]
    pub queue_timeout: f64,

    /// Seconds of CPU one request's work may take, over every chunk of a streamed page (a
    /// 10,000-item page of the full demo takes about 0.05 s). Past it the work stops: 503, or
    /// a streamed page cut off. Bounds what one request can cost, whatever it asks.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = seconds)]
    pub max_request_cpu: f64,

    /// Seconds answers in flight may take to finish once SIGTERM or Ctrl-C arrives; then what
    /// is left is cut and the server exits 0. A second signal exits at once. A supervisor
    /// must wait longer (deploy/ gives systemd 15 s, Kubernetes 20 s with its preStop pause).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    pub shutdown_grace: f64,

    /// Proxies whose word on a request's client is believed: addresses or CIDR ranges,
    /// comma-separated (`127.0.0.1`, `10.0.0.0/8,fd00::/8`). For a peer in them, the client is
    /// the rightmost address of --client-header that is not itself trusted; a peer outside
    /// them is its own client, whatever headers it sends. The per-client cap, the access log
    /// and /metrics then count real clients, not the proxy.
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',', value_parser = trusted_proxy)]
    pub trust_proxy: Vec<tessera_server::IpNet>,

    /// The header trusted proxies name the client in. Only that one is read: a proxy passes
    /// any other on as the client sent it.
    #[arg(long, value_enum, default_value_t = ClientHeaderArg::XForwardedFor, value_name = "HEADER")]
    pub client_header: ClientHeaderArg,

    /// Every connection to --listen starts with a PROXY protocol header (v1 or v2), as
    /// HAProxy's send-proxy and AWS's Network Load Balancer send; its address is the client.
    /// A connection without one is closed.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// Megabytes of rendered search pages kept: a GET search asked a second time is kept and
    /// answered with those bytes from then on (a page depends only on the inventory and its
    /// URL, and a reload starts afresh). 0 keeps none.
    #[arg(long, value_name = "MB", default_value_t = 16)]
    pub page_cache: u64,

    /// A file holding the key paging tokens are signed with (64 hex digits). Default: the
    /// inventory's `secret.key`, which every replica of the inventory shares, so a `next`
    /// link works on any replica and across restarts. Or set TESSERA_TOKEN_KEY.
    #[arg(long, value_name = "FILE", env = "TESSERA_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
}

/// The header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientHeaderArg {
    /// `X-Forwarded-For: client, proxy, ...` (Caddy, nginx, HAProxy, cloud load balancers).
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy` (RFC 7239).
    Forwarded,
}

/// A number of seconds, 0 or more.
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds")),
    }
}

fn trusted_proxy(text: &str) -> Result<tessera_server::IpNet, String> {
    let mut nets = tessera_server::Proxies::parse_trusted(text)?;
    nets.pop().ok_or_else(|| "an empty address".to_owned())
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The store the tiles were copied to.
    pub store: String,

    /// What was copied; standard input when absent or `-`.
    pub input: Option<String>,

    /// Fold the journal into the manifest once it holds more than N records.
    #[arg(long, value_name = "N", default_value_t = tessera_engine::inventory::COMPACT_AFTER_ROWS)]
    pub compact_after: usize,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The store the listing describes, as named in tessera.toml.
    pub store: String,

    /// Listing files (plain or gzip); none or `-` reads standard input.
    #[arg(conflicts_with = "list")]
    pub listings: Vec<String>,

    /// List the store itself instead of reading a listing. A directory is walked: year
    /// folders, then their tile folders, shared by --threads workers. An S3 store is listed
    /// in key ranges cut at each year's degree folders (`2024/grid_12.`), --threads requests
    /// at once, throttled or failed requests retried with backoff. With --year or --prefix,
    /// only the keys they name.
    ///
    /// A symbolic link in a directory store is never counted as a tile file, as `tessera
    /// sync` never takes a link for a copy: a mirror made of links into the primary holds
    /// nothing of its own. Each link is named (with --report, all of them), and a tile with a
    /// linked file is partial. For a store built of links on purpose, scan the listing `find
    /// -L DIR -type f -printf '%s %p\n'` prints (it counts what links point to), and copy
    /// from it with `tessera sync --copy-links`.
    #[arg(long)]
    pub list: bool,

    /// With --list: workers walking tile folders at once (default: twice the CPUs, as the
    /// walk waits on the disk or the network file system more than on the CPU), or S3 list
    /// requests in flight (default: 32).
    #[arg(long, value_name = "N", requires = "list")]
    pub threads: Option<usize>,

    #[command(flatten)]
    pub s3: S3Args,

    /// With --list: also write the listing made, gzipped, to FILE (`size path` lines, as
    /// `find -printf '%s %p\n'` prints them), for audits or to scan again.
    #[arg(long, value_name = "FILE.gz", requires = "list")]
    pub save_listing: Option<std::path::PathBuf>,

    /// Add the listed tiles to what the store holds, dropping nothing.
    #[arg(long)]
    pub merge: bool,

    /// Fail, writing nothing, on any unreadable line, zero-size or misfiled file, symbolic
    /// link, partial tile or size that differs from the registry (the message names the
    /// first offending line).
    #[arg(long)]
    pub strict: bool,

    /// Write every finding to FILE, one a line: each symbolic link a walk met (`link PATH ->
    /// TARGET`), each partial tile with the files it lacks (`partial KEY: lacks ...`), each
    /// tile whose sizes differ from the registry's (`differs KEY: listed ... the registry
    /// says ...`). Stderr names the first ten of each kind.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// The listing covers this year only: the scan replaces that year of the store (tiles of
    /// the year it does not list are dropped, other years are untouched). Also the year of
    /// keys that have none (a listing made inside the year's folder).
    #[arg(long, value_name = "YEAR")]
    pub year: Option<Year>,

    /// Print where the time went (read, parse, gather, size check, manifest, index).
    #[arg(long)]
    pub timings: bool,

    /// The listing covers the tiles whose key (`2024/grid_1.05_49.95`) or folder name
    /// (`grid_1.05_49.95`) starts with PREFIX: the scan replaces exactly those, as a sharded
    /// listing (`s5cmd ls 's3://.../2024/grid_1*'`) needs.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    tessera init --demo demo --small\n  \
    tessera --inventory inv init --store okavango=primary,/data/tessera/v1/global_0.1_degree_representation,https://dl2.geotessera.org/v1/global_0.1_degree_representation \\\n      \
    --store s3=mirror,s3://tessera-embeddings/v1/global_0.1_degree_representation,https://tessera-embeddings.s3.us-west-2.amazonaws.com/v1/global_0.1_degree_representation")]
pub struct InitArgs {
    /// Write the generated demo inventory into DIR (created if missing; its files are replaced).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["store", "years"])]
    pub demo: Option<PathBuf>,

    /// With --demo: a few thousand tiles instead of 3.8 million, for tests and quick looks.
    #[arg(long, requires = "demo")]
    pub small: bool,

    /// With --demo: every cell of the grid over 15 years instead, 97.2M tiles (25 times the
    /// full demo; stores `primary`, `half-a` and `half-b`, each mirror a random half), for
    /// measuring how tessera grows. About 10 GB on disk and a few minutes (release build).
    #[arg(long, requires = "demo", conflicts_with = "small")]
    pub planet: bool,

    /// With --demo: seed of the generator; the same seed writes the same inventory.
    #[arg(long, value_name = "N", requires = "demo")]
    pub seed: Option<u64>,

    /// A store of a new, empty inventory (at --inventory): NAME=ROLE,STORAGE,PUBLIC_URL with
    /// ROLE `primary` (exactly one) or `mirror`, STORAGE a local path or s3://bucket/prefix.
    #[arg(long, value_name = "NAME=ROLE,STORAGE,URL", required_unless_present = "demo")]
    pub store: Vec<String>,

    /// The years of a new inventory, FIRST..LAST.
    #[arg(long, value_name = "FIRST..LAST", default_value = "2017..2025")]
    pub years: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The upstream registry.parquet (or manifest.parquet) to copy into the inventory.
    pub registry: PathBuf,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The store whose manifest is replaced.
    pub store: String,

    /// The parquet file to read.
    pub manifest: PathBuf,
}

#[derive(Debug, Args)]
pub struct StoresArgs {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    tessera check                                   # cron: exit 1 only on damage\n  \
    tessera check s3 --list differs > resend.txt    # the tiles to send again, as keys\n  \
    tessera check --strict                          # tiles outside the registry fail too")]
pub struct CheckArgs {
    /// Only this store (default: all).
    pub store: Option<String>,

    /// Also exit 1 on tiles the registry does not list (otherwise a warning).
    #[arg(long)]
    pub strict: bool,

    /// Print every tile with this problem on stdout, one copy-list key per line (the report
    /// goes to stderr).
    #[arg(long, value_enum, value_name = "KIND")]
    pub list: Option<ProblemKind>,
}

/// A kind of problem `check` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProblemKind {
    /// A tile with a zero-byte file.
    ZeroSize,
    /// A tile whose sizes differ from the registry's.
    Differs,
    /// A tile the registry does not list.
    NotInRegistry,
    /// A tile whose sizes are unknown (listed without sizes).
    UnknownSize,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for scripts instead of the report.
    #[arg(long)]
    pub json: bool,

    /// Count only tiles whose footprint overlaps this box: west,south,east,north in degrees
    /// (west > east crosses the antimeridian). The map's drawn box counts the same way.
    #[arg(long, value_name = "W,S,E,N", allow_hyphen_values = true)]
    pub bbox: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The store that holds the tiles (usually the primary), or `registry`.
    pub source: String,

    /// The store that should hold them too.
    pub target: String,

    /// Print only the number of missing tiles.
    #[arg(long)]
    pub count: bool,

    /// Only these years (repeat the flag or separate with commas).
    #[arg(long, value_name = "YEAR", value_delimiter = ',')]
    pub year: Vec<Year>,

    /// Only tiles whose footprint overlaps this box: west,south,east,north in degrees
    /// (west > east crosses the antimeridian).
    #[arg(long, value_name = "W,S,E,N", allow_hyphen_values = true)]
    pub bbox: Option<String>,

    /// Print a copy list for the copy tools instead of bare keys (see --format).
    #[arg(long)]
    pub emit_copylist: bool,

    /// The copy list's shape: `s5cmd` (commands for `s5cmd run`; S3 on a side), `rsync` (a
    /// `--files-from` list of tile folders; two directories), `cp` (`cp -a` shell commands for
    /// `xargs -P`; two directories), `keys` (one `2024/grid_0.85_49.95` per line), or `json`
    /// (one object per line: key, item id, bbox, sizes and hashes from the registry). Implies
    /// --emit-copylist; the default is the tool for the pair of storages (s5cmd or rsync).
    #[arg(long, value_enum)]
    pub format: Option<CopyFormat>,

    /// Also list tiles TARGET holds with sizes that differ from SOURCE's (partial or corrupt
    /// copies), so they are sent again.
    #[arg(long)]
    pub stale: bool,

    /// Only tiles the registry lists that this CQL2 filter (text, or JSON starting with `{`)
    /// selects, as `tessera select` reads it.
    #[arg(long, value_name = "CQL2")]
    pub filter: Option<String>,

    /// Print the STAC search URL at the API root URL (`tessera serve`'s) that pages the same
    /// tiles, instead of the tiles: the gap as a CQL2 filter on `tessera:stores`, with the
    /// years, --bbox and --filter, for pystac-client, QGIS or a notebook. Items are registry
    /// tiles, so tiles SOURCE holds beyond the registry are not among them.
    #[arg(long, value_name = "URL", conflicts_with_all = ["count", "emit_copylist", "format", "stale"])]
    pub stac_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The CQL2 filter: CQL2-text, or CQL2-JSON when it starts with `{`.
    pub filter: String,

    /// Print only the number of tiles selected.
    #[arg(long, conflicts_with = "keys")]
    pub count: bool,

    /// Print copy-list keys (`2024/grid_0.85_49.95`), the default.
    #[arg(long)]
    pub keys: bool,

    /// Print STAC item ids (`2024_grid_0.85_49.95`) instead of keys.
    #[arg(long, conflicts_with_all = ["count", "keys"])]
    pub ids: bool,
}

/// The shape of a copy list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CopyFormat {
    S5cmd,
    Rsync,
    Cp,
    Keys,
    Json,
}

impl CopyFormat {
    /// The copy tool whose input this format is, if it is one.
    pub fn tool(self) -> Option<CopyTool> {
        match self {
            CopyFormat::S5cmd => Some(CopyTool::S5cmd),
            CopyFormat::Rsync => Some(CopyTool::Rsync),
            CopyFormat::Cp => Some(CopyTool::Cp),
            CopyFormat::Keys | CopyFormat::Json => None,
        }
    }
}

/// How tessera's own S3 requests are bounded (`scan --list`, `verify` of an S3 store).
#[derive(Debug, Clone, Copy, Args)]
pub struct S3Args {
    /// For an S3 store: seconds one request may take, its body included, before it is
    /// abandoned and tried again.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_seconds)]
    pub request_timeout: std::time::Duration,

    /// For an S3 store: times a throttled (503 SlowDown), failed or timed-out request is
    /// tried again, with exponential backoff from 100 ms to 15 s.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub retries: usize,
}

impl S3Args {
    /// The client settings, with `concurrency` requests in flight (default 32).
    pub fn settings(&self, concurrency: Option<usize>) -> crate::bucket::Settings {
        crate::bucket::Settings {
            concurrency: concurrency.unwrap_or(32).max(1),
            timeout: self.request_timeout,
            retries: self.retries,
        }
    }
}

/// A positive number of seconds (`2`, `0.5`).
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("`{text}` is not a positive number of seconds"))
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    tessera hash primary                # once on the primary: every file read once\n  \
    tessera verify s3                   # then a mirror on S3, by HEAD requests only\n  \
    tessera hash primary --force        # read every file again, changed or not")]
pub struct HashArgs {
    /// The store to hash: a directory on this machine (an S3 store is checked by the
    /// checksums S3 keeps instead; hash the store its copies came from).
    pub store: String,

    /// Hashing threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Hash every file, even those unchanged in size and modification time since the last run.
    #[arg(long)]
    pub force: bool,

    /// Compute MD5s too, for comparing with the ETags of S3-compatible stores that keep no
    /// checksums (a single-part upload's ETag is its MD5). On whenever the inventory has an
    /// S3 store.
    #[arg(long)]
    pub md5: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    tessera verify okavango                          # a directory: damaged tiles removed at once\n  \
    tessera verify s3 --dry-run                      # an S3 store: the requests and their cost\n  \
    tessera verify s3                                # by HEADs: S3's checksums, no byte read\n  \
    tessera verify s3 --read-missing --jobs 32       # and read what no checksum settles\n  \
    tessera verify s3 --shard 2/8 --findings /shared/verify   # one of 8 machines\n  \
    tessera verify s3 --merge-shards /shared/verify  # then, once: remove what the shards found")]
pub struct VerifyArgs {
    /// The store to verify: a directory on this machine, or an S3 store (its credentials and
    /// endpoint taken as `scan --list` takes them).
    pub store: String,

    /// Hashing threads for a directory (default: one per core), or tiles checked at once on
    /// an S3 store (default: 64 HEAD requests in flight; an object read with --read-missing
    /// goes in 8 MiB ranges, 4 in flight).
    #[arg(long, visible_alias = "threads", value_name = "N")]
    pub jobs: Option<usize>,

    /// On an S3 store, read the objects a HEAD cannot settle (no checksum S3 keeps matches a
    /// known one) instead of naming them as unchecked.
    #[arg(long)]
    pub read_missing: bool,

    /// Print what the run would do: HEAD and GET requests, bytes to read, and the requests'
    /// cost at S3's list prices. Nothing is sent or read.
    #[arg(long)]
    pub dry_run: bool,

    /// Start from the first tile instead of resuming an interrupted run.
    #[arg(long)]
    pub restart: bool,

    /// Verify shard I of N (counting from 0): the tiles whose id is I modulo N, so that N
    /// processes on N machines verify each tile once. The shard writes nothing to the
    /// inventory: its findings go to FINDINGS/STORE-shard-I-of-N.jsonl, and a killed shard
    /// resumes from its last save there.
    #[arg(long, value_name = "I/N", conflicts_with = "merge_shards")]
    pub shard: Option<crate::shard::Shard>,

    /// With --shard: the folder the shard's findings file goes to, shared by the shards or
    /// gathered after.
    #[arg(long, value_name = "FINDINGS", default_value = "verify-shards", requires = "shard")]
    pub findings: PathBuf,

    /// Apply the findings of every shard in FINDINGS: damaged tiles are removed from the store
    /// through its journal (exit status 1 when there were any); a missing or unfinished shard
    /// is named and fails the merge (exit status 2) after what was found is applied.
    #[arg(long, value_name = "FINDINGS")]
    pub merge_shards: Option<PathBuf>,

    #[command(flatten)]
    pub s3: S3Args,
}
