//! Soaks of one store under every writer at once, then under `kill -9`.
//!
//! The store (`scaleway`, a directory of real tile folders) starts as a listing of tiles A.
//! `record` adds tiles of R (disjoint from A); `scan` lists A again, whole or one year
//! (`--year`), which supersedes the records made before the listing was taken; `verify` finds
//! the damaged tiles V (in A) and removes them; `tessera serve` reads throughout. Every command
//! is logged with when it ran. At the end the store's index is rebuilt from its manifest and
//! journal, and every tile is compared with what the log says it must be: present or absent
//! after the last writer that touched it, where that writer is certain (it ran alone at the
//! end of the tile's history). Nothing acknowledged may be lost, nothing may appear that no
//! writer put there.

mod common;

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tessera_engine::grid::{DEFAULT_YEARS, TileId};
use tessera_engine::inventory::Inventory;
use tessera_fixtures::{DEFAULT_SEED, DemoSize, DemoSpec, TileFiles, generate, write_registry_of, write_tile_folders};

/// What a command did to a tile, in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Present,
    Absent,
}

/// One writer command, as logged: the tiles it set, when it took effect, and whether it
/// surely did (a killed command may or may not have).
#[derive(Debug, Clone)]
struct Event {
    kind: Kind,
    /// The interval the command's effect happened in (a scan's: its listing's birth).
    from: SystemTime,
    to: SystemTime,
    /// When the command ended: a scan's listing is born before the scan runs, so it may reach
    /// the store long after `to`.
    ended: SystemTime,
    finished: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A listing of `listed` covering `year` (all years when `None`).
    Scan {
        year: Option<u16>,
        listed: HashSet<TileId>,
    },
    Record(Vec<TileId>),
    Verify,
}

struct Soak {
    _temp: tempfile::TempDir,
    inventory: PathBuf,
    root: PathBuf,
    listings: PathBuf,
    /// Listed by every scan.
    a: Vec<TileId>,
    /// Recorded, never listed.
    r: Vec<TileId>,
    /// In A, with a damaged file: `verify` removes them.
    v: HashSet<TileId>,
    files: Vec<TileFiles>,
    log: Mutex<Vec<Event>>,
}

impl Soak {
    fn new() -> Soak {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().join("tiles");
        let demo = generate(&DemoSpec { size: DemoSize::Small, seed: DEFAULT_SEED });
        let of_year =
            |year: u16| demo.registry.iter().filter(move |id| DEFAULT_YEARS.tile(**id).is_ok_and(|t| t.year == year));
        let mut ids: Vec<TileId> = of_year(2024).take(150).chain(of_year(2025).take(150)).copied().collect();
        ids.sort();
        let files = write_tile_folders(&root, DEFAULT_YEARS, &ids, 5).expect("tile folders");
        let (a, r): (Vec<TileId>, Vec<TileId>) = ids.iter().partition(|id| id.0 % 4 != 0);
        let v: HashSet<TileId> = a.iter().step_by(25).copied().collect();
        for id in &v {
            let key = key(*id);
            let name = key.rsplit('/').next().expect("a key");
            fs::write(root.join(&key).join(format!("{name}.npy")), b"\x93NUMPY damaged").expect("damage a tile");
        }
        let registry = temp.path().join("registry.parquet");
        write_registry_of(&registry, DEFAULT_YEARS, &files).expect("registry");
        let inventory = temp.path().join("inventory");
        let listings = temp.path().join("listings");
        fs::create_dir_all(&listings).expect("mkdir");
        let soak = Soak { inventory, root, listings, a, r, v, files, log: Mutex::new(Vec::new()), _temp: temp };
        let store = |name: &str, role: &str| format!("{name}={role},{},https://{name}.example/v1", soak.root.display());
        soak.ok(&["init", "--store", &store("okavango", "primary"), "--store", &store("scaleway", "mirror")], b"");
        soak.ok(&["import", registry.to_str().expect("utf-8")], b"");
        soak.scan(None, 0);
        soak
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command.arg("--inventory").arg(&self.inventory).args(args).env_remove("TESSERA_INVENTORY");
        command
    }

    fn spawn(&self, args: &[&str], stdin: &[u8]) -> Child {
        let mut command = self.command(args);
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("tessera runs");
        let mut input = child.stdin.take().expect("stdin");
        let _ = input.write_all(stdin);
        child
    }

    fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.spawn(args, stdin).wait_with_output().expect("tessera ends");
        assert!(output.status.success(), "tessera {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    /// Writes a listing of A (of `year`) to a new file; returns its path, when it was born,
    /// and the tiles it lists.
    fn listing(&self, year: Option<u16>, n: u64) -> (PathBuf, SystemTime, SystemTime, HashSet<TileId>) {
        let listed: HashSet<TileId> = self
            .a
            .iter()
            .filter(|id| year.is_none_or(|y| DEFAULT_YEARS.tile(**id).is_ok_and(|t| t.year == y)))
            .copied()
            .collect();
        let mut text = String::new();
        for file in self.files.iter().filter(|f| listed.contains(&f.id)) {
            let key = key(file.id);
            let name = key.rsplit('/').next().expect("a key");
            text.push_str(&format!("{} /data/{key}/{name}.npy\n", file.file_size));
            text.push_str(&format!("{} /data/{key}/{name}_scales.npy\n", file.scales_size));
            text.push_str(&format!("180 /data/{key}/SHA256\n"));
        }
        let path = self.listings.join(format!("listing-{n}.txt"));
        let from = SystemTime::now();
        fs::write(&path, text).expect("write the listing");
        let to = SystemTime::now();
        // The birth `scan` reads is the file system's, stamped from a clock coarser than
        // `SystemTime::now()` (up to a tick earlier): the model must use the same instant.
        let born = fs::metadata(&path).and_then(|meta| meta.created().or_else(|_| meta.modified()));
        match born {
            Ok(born) => (path, born, born, listed),
            Err(_) => (path, from, to, listed),
        }
    }

    fn scan(&self, year: Option<u16>, n: u64) {
        let (path, from, to, listed) = self.listing(year, n);
        let year_text = year.map(|y| y.to_string());
        let mut args = vec!["scan", "scaleway", path.to_str().expect("utf-8")];
        if let Some(year) = &year_text {
            args.extend(["--year", year]);
        }
        self.ok(&args, b"");
        self.note(Event { kind: Kind::Scan { year, listed }, from, to, ended: SystemTime::now(), finished: true });
    }

    fn note(&self, event: Event) {
        self.log.lock().expect("the log").push(event);
    }

    /// Checks every tile of the store, its index rebuilt from manifest and journal, against
    /// the log. Returns how many tiles were decided (not ambiguous).
    fn check(&self) -> usize {
        let _ = fs::remove_file(self.inventory.join("stores/scaleway.tbm"));
        let inventory = Inventory::open(&self.inventory).expect("the inventory opens");
        let held: HashSet<TileId> = inventory.rows("scaleway").expect("rows").iter().map(|row| row.id).collect();
        let all: HashSet<TileId> = self.a.iter().chain(&self.r).copied().collect();
        let phantoms: Vec<&TileId> = held.difference(&all).collect();
        assert!(phantoms.is_empty(), "tiles no writer put there: {phantoms:?}");
        let log = self.log.lock().expect("the log");
        let mut decided = 0;
        for &id in &all {
            let Some(expected) = expected(&log, id, &self.v) else { continue };
            decided += 1;
            let actual = if held.contains(&id) { Effect::Present } else { Effect::Absent };
            assert_eq!(actual, expected, "tile {} ({:?}); its log: {:#?}", key(id), id, history(&log, id, &self.v));
        }
        decided
    }
}

fn key(id: TileId) -> String {
    DEFAULT_YEARS.tile(id).expect("a tile").key().to_string()
}

/// What `event` does to tile `id`, if anything.
fn effect_on(event: &Event, id: TileId, damaged: &HashSet<TileId>) -> Option<Effect> {
    match &event.kind {
        Kind::Scan { year, listed } => {
            let in_scope = year.is_none_or(|y| DEFAULT_YEARS.tile(id).is_ok_and(|t| t.year == y));
            in_scope.then(|| if listed.contains(&id) { Effect::Present } else { Effect::Absent })
        }
        Kind::Record(ids) => ids.contains(&id).then_some(Effect::Present),
        Kind::Verify => damaged.contains(&id).then_some(Effect::Absent),
    }
}

fn history<'a>(log: &'a [Event], id: TileId, damaged: &HashSet<TileId>) -> Vec<&'a Event> {
    log.iter().filter(|event| effect_on(event, id, damaged).is_some()).collect()
}

/// The state tile `id` must be in, from the log: the effect of the writers no other writer of
/// the tile surely came after, when they agree and surely ran. `None` when the order cannot
/// tell. A verify removes only what it held when it started: a scan running while it runs (from
/// the listing's birth to the scan's end) leaves the result open.
fn expected(log: &[Event], id: TileId, damaged: &HashSet<TileId>) -> Option<Effect> {
    let touching = history(log, id, damaged);
    let last: Vec<&&Event> = touching.iter().filter(|e| !touching.iter().any(|later| later.from > e.to)).collect();
    let overlapped_by_scan = |e: &Event| {
        touching
            .iter()
            .any(|other| matches!(other.kind, Kind::Scan { .. }) && other.from <= e.to && other.ended >= e.from)
    };
    let mut effects = last.iter().map(|e| {
        let sure = e.finished && !(matches!(e.kind, Kind::Verify) && overlapped_by_scan(e));
        sure.then(|| effect_on(e, id, damaged)).flatten()
    });
    let first = effects.next()??;
    effects.all(|effect| effect == Some(first)).then_some(first)
}

/// A small xorshift: the soak's choices, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(7, |d| d.as_nanos() as u64) | 1;
        eprintln!("soak choices drawn with seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn record_args(rng: &mut Rng) -> Vec<&'static str> {
    if rng.below(4) == 0 { vec!["record", "scaleway", "--compact-after", "8"] } else { vec!["record", "scaleway"] }
}

#[test]
fn every_writer_at_once_loses_nothing_and_invents_nothing() {
    let soak = Soak::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let server_log = soak.listings.join("serve.log");
    let log_file = fs::File::create(&server_log).expect("the server's log");
    let serve = soak.command(&["serve", "--listen", &listen, "--web", "/nonexistent"]);
    let server = Killed(serve_with(serve, log_file));
    let deadline = Instant::now() + Duration::from_secs(25);
    let counts = Mutex::new([0u32; 4]);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut rng = Rng::seeded();
            while Instant::now() < deadline {
                let tiles: Vec<TileId> =
                    (0..1 + rng.below(3)).map(|_| soak.r[rng.below(soak.r.len() as u64) as usize]).collect();
                let keys: Vec<String> = tiles.iter().map(|id| key(*id)).collect();
                let from = SystemTime::now();
                soak.ok(&record_args(&mut rng), keys.join("\n").as_bytes());
                let to = SystemTime::now();
                soak.note(Event { kind: Kind::Record(tiles), from, to, ended: to, finished: true });
                counts.lock().expect("counts")[0] += 1;
            }
        });
        scope.spawn(|| {
            let mut n = 1;
            while Instant::now() < deadline {
                soak.scan(if n % 2 == 0 { Some(2024) } else { None }, n);
                n += 1;
                counts.lock().expect("counts")[1] += 1;
            }
        });
        scope.spawn(|| {
            while Instant::now() < deadline {
                let from = SystemTime::now();
                let output =
                    soak.spawn(&["verify", "scaleway", "--restart"], b"").wait_with_output().expect("verify ends");
                assert!(output.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&output.stderr));
                let to = SystemTime::now();
                soak.note(Event { kind: Kind::Verify, from, to, ended: to, finished: true });
                counts.lock().expect("counts")[2] += 1;
            }
        });
        scope.spawn(|| {
            while TcpStream::connect(&listen).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
            while Instant::now() < deadline {
                for path in ["/coverage/scaleway/2024", "/search?limit=3&collections=geotessera-2024", "/healthz"] {
                    let status = http_status(&listen, path);
                    let log = || fs::read_to_string(&server_log).unwrap_or_default();
                    assert_eq!(status, Ok(200), "{path} while the writers run; the server said: {}", log());
                }
                counts.lock().expect("counts")[3] += 1;
            }
        });
    });
    drop(server);
    let [records, scans, verifies, reads] = *counts.lock().expect("counts");
    eprintln!("{records} records, {scans} scans, {verifies} verifies, {reads} rounds of reads");
    assert!(records >= 20 && scans >= 10 && verifies >= 5 && reads >= 20, "the soak did too little");
    let decided = soak.check();
    eprintln!("{decided} of {} tiles decided by the log, all as it says", soak.a.len() + soak.r.len());
    assert!(decided > (soak.a.len() + soak.r.len()) / 2, "too few tiles decided: {decided}");
}

#[test]
fn kill_9_of_every_writer_leaves_an_inventory_that_opens_and_loses_nothing_acknowledged() {
    let soak = Soak::new();
    let mut rng = Rng::seeded();
    let (mut kills, mut rounds) = (0, 0);
    while kills < 36 {
        rounds += 1;
        assert!(rounds < 400, "only {kills} kills caught a writer running in {rounds} rounds");
        let from = SystemTime::now();
        // Each writer with when its effect happens: a scan's is its listing's birth.
        let (kind, mut child, effect) = match rng.below(4) {
            0 => {
                let tiles: Vec<TileId> =
                    (0..1 + rng.below(4)).map(|_| soak.r[rng.below(soak.r.len() as u64) as usize]).collect();
                let keys: Vec<String> = tiles.iter().map(|id| key(*id)).collect();
                (Kind::Record(tiles), soak.spawn(&record_args(&mut rng), keys.join("\n").as_bytes()), None)
            }
            1 | 2 => {
                // Only 2025 is rescanned, so that the records of 2024 tiles have a history of
                // records alone, which the kills leave decidable.
                let year = Some(2025);
                let (path, born_from, born_to, listed) = soak.listing(year, 1000 + rounds);
                let year_text = year.map(|y| y.to_string());
                let mut args = vec!["scan", "scaleway", path.to_str().expect("utf-8")];
                if let Some(year) = &year_text {
                    args.extend(["--year", year]);
                }
                (Kind::Scan { year, listed }, soak.spawn(&args, b""), Some((born_from, born_to)))
            }
            _ => (Kind::Verify, soak.spawn(&["verify", "scaleway", "--restart"], b""), None),
        };
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        let running = child.try_wait().expect("wait").is_none();
        if running {
            child.kill().expect("kill -9");
            kills += 1;
        }
        let status = child.wait().expect("reaped");
        let mut said = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut said);
        }
        let finished = !running && status.code().is_some_and(|c| c == 0 || (c == 1 && matches!(kind, Kind::Verify)));
        assert!(running || finished, "{kind:?} failed on its own: {said}");
        let ended = SystemTime::now();
        let (from, to) = effect.unwrap_or((from, ended));
        soak.note(Event { kind, from, to, ended, finished });
        // After every kill the inventory opens and answers.
        soak.ok(&["status"], b"");
        soak.ok(&["diff", "okavango", "scaleway", "--count"], b"");
    }
    eprintln!("{kills} kills in {rounds} rounds");
    let decided = soak.check();
    eprintln!("{decided} tiles decided by the log, all as it says");
    assert!(decided > 0);
}

/// A process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_with(mut command: Command, log: fs::File) -> Child {
    let log_too = log.try_clone().expect("the log");
    command.stdout(log).stderr(log_too).env("RUST_LOG", "info").spawn().expect("tessera serve starts")
}

/// `GET path` on `addr`: the status code, or what went wrong.
fn http_status(addr: &str, path: &str) -> Result<u16, String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).map_err(|err| format!("connect: {err}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let read = stream.read_to_end(&mut reply);
    let head = String::from_utf8_lossy(&reply[..reply.len().min(200)]).into_owned();
    let code = head.split_whitespace().nth(1).and_then(|code| code.parse().ok());
    code.ok_or_else(|| format!("after {:?}: {read:?}, {} bytes: {head:?}", started.elapsed(), reply.len()))
}
