//! tessera's own S3 client against a real S3 server on loopback (moto), through a proxy that
//! throttles (503 SlowDown) and leaves a request hanging: `scan --list` lists what
//! `s5cmd ls` + `scan` finds on the same bucket; `verify` finds a corrupted and a truncated
//! object; four `verify --shard` processes verify every tile once, a killed one resumes, and
//! `--merge-shards` removes what they found.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::faults::{Faults, FaultyProxy, Hook};
use common::tiles::{Tile, write_registry};
use common::tools::{AWS_ENV, S3, require};

const BUCKET: &str = "tessera";

/// The listing test times its requests against a 5-second timeout: it runs alone, the other
/// tests (each with its own S3 server and several tessera processes) together.
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn beside_others() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}
const ROOT: &str = "s3://tessera/v1";

/// A bucket holding a few hundred tiles (three objects each), the registry of their true
/// hashes, and an inventory with two stores on that bucket.
struct World {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    inventory: PathBuf,
    s3: S3,
    s5cmd: PathBuf,
    keys: Vec<String>,
}

impl World {
    /// `tiles` tiles, all in 2024 but the last `tiles / 10`, in 2025; spread over every
    /// longitude so a listing splits its ranges.
    fn new(tiles: i32) -> Option<World> {
        let [s5cmd, moto] = require(["s5cmd", "moto_server"])?;
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_owned();
        let keys = write_tiles(&dir, tiles);
        let s3 = S3::start(&moto, &dir);
        let world = World { inventory: dir.join("inventory"), dir, _temp: temp, s3, s5cmd, keys };
        world.succeeds(world.s5cmd(&["mb", &format!("s3://{BUCKET}")]));
        let tree = format!("{}/", world.dir.join("tree").display());
        world.succeeds(world.s5cmd(&["cp", &format!("{tree}*"), &format!("{ROOT}/")]));
        let stores = format!(
            "--store primary=primary,{tree},https://p --store s3=mirror,{ROOT},https://m --store copy=mirror,{ROOT},https://m"
        );
        let init =
            format!("\"$TESSERA\" init {stores} && \"$TESSERA\" import {}/registry.parquet", world.dir.display());
        let output = Command::new("sh")
            .args(["-c", &init])
            .env("TESSERA", env!("CARGO_BIN_EXE_tessera"))
            .env("TESSERA_INVENTORY", &world.inventory)
            .output()
            .expect("sh runs");
        world.succeeds(output);
        Some(world)
    }

    fn s5cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.s5cmd)
            .args(args)
            .env("S3_ENDPOINT_URL", &self.s3.endpoint)
            .envs(AWS_ENV)
            .output()
            .expect("s5cmd runs")
    }

    /// `tessera` with the S3 server (or a proxy in front of it) at `endpoint`.
    fn command(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command.arg("--inventory").arg(&self.inventory).args(args);
        command.env("S3_ENDPOINT_URL", endpoint).envs(AWS_ENV).env_remove("AWS_PROFILE").env("HOME", &self.dir);
        command
    }

    fn tessera(&self, endpoint: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(endpoint, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin).expect("write stdin");
        child.wait_with_output().expect("tessera finishes")
    }

    fn succeeds(&self, output: Output) -> Output {
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The keys `store` lacks, sorted.
    fn missing(&self, store: &str) -> Vec<String> {
        let output = self.succeeds(self.tessera(&self.s3.endpoint, &["diff", "registry", store], b""));
        let mut keys: Vec<String> =
            String::from_utf8(output.stdout).expect("utf-8").lines().map(str::to_owned).collect();
        keys.sort();
        keys
    }

    fn count(&self, source: &str, target: &str) -> u64 {
        let output = self.succeeds(self.tessera(&self.s3.endpoint, &["diff", source, target, "--count"], b""));
        String::from_utf8(output.stdout).expect("utf-8").trim().parse().expect("a count")
    }

    /// Replaces the object at `key` (under the store's root) with `bytes`.
    fn put(&self, key: &str, bytes: &[u8]) {
        let file = self.dir.join("upload");
        fs::write(&file, bytes).expect("write");
        self.succeeds(self.s5cmd(&["cp", file.to_str().expect("utf-8"), &format!("{ROOT}/{key}")]));
    }

    /// Writes an empty object at `folder` + `/` under the store's root: the "folder" that S3
    /// consoles, s3fs and Hadoop create (s5cmd cannot make one). Unsigned: moto accepts it.
    fn put_folder_marker(&self, folder: &str) {
        use std::io::{Read, Write};
        let host = self.s3.endpoint.trim_start_matches("http://");
        let path = format!("{}/{folder}/", ROOT.trim_start_matches("s3:/"));
        let mut stream = std::net::TcpStream::connect(host).expect("connect to the S3 server");
        write!(stream, "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "PUT {path}: {answer}");
    }

    /// Scans `store` from what `s5cmd ls` prints for the whole bucket.
    fn scan_from_s5cmd(&self, store: &str) {
        let listing = self.succeeds(self.s5cmd(&["ls", &format!("{ROOT}/*")]));
        self.succeeds(self.tessera(&self.s3.endpoint, &["scan", store, "-"], &listing.stdout));
    }
}

/// Writes `tiles` tiles into `dir/tree` and `dir/registry.parquet`; returns their keys.
fn write_tiles(dir: &Path, tiles: i32) -> Vec<String> {
    let tiles: Vec<Tile> = (0..tiles)
        .map(|k| {
            let year = if k < tiles - tiles / 10 { 2024 } else { 2025 };
            let (lon_i, lat_i) = (-17995 + (35990 / tiles) / 10 * 10 * k, 5 + 10 * (k % 50));
            let mut tile = Tile { year, lon_i, lat_i, embeddings: Vec::new(), scales: Vec::new() };
            let key = tile.key();
            tile.embeddings = format!("embeddings of {key}\n").repeat(40 + k as usize % 7).into_bytes();
            tile.scales = format!("scales of {key}\n").into_bytes();
            tile
        })
        .collect();
    for tile in &tiles {
        tile.write_folder(&dir.join("tree"));
    }
    write_registry(&dir.join("registry.parquet"), &tiles);
    let mut keys: Vec<String> = tiles.iter().map(Tile::key).collect();
    keys.sort();
    keys
}

fn name_of(key: &str) -> &str {
    key.split('/').nth(1).expect("a key has a folder")
}

/// `N requests over M key ranges` in a scan's report.
fn requests_and_ranges(report: &str) -> (u64, u64) {
    let words: Vec<&str> = report.split_whitespace().collect();
    let at = words.iter().position(|word| *word == "requests").expect("the report counts requests");
    let requests = words[at - 1].trim_start_matches('(').parse().expect("a number");
    (requests, words[at + 2].parse().expect("a number"))
}

#[test]
fn listing_a_bucket_equals_s5cmd_ls_through_throttling_and_a_hung_request() {
    let _alone = ALONE.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(world) = World::new(1100) else { return };
    // What a listing must see as it is: a tile without its scales, one with empty scales, and
    // strays in a year folder, at the root and in a year the inventory does not cover.
    let (partial, empty) = (&world.keys[10], &world.keys[20]); // sorted, as `missing` is
    world.succeeds(world.s5cmd(&["rm", &format!("{ROOT}/{partial}/{}_scales.npy", name_of(partial))]));
    world.put(&format!("{empty}/{}_scales.npy", name_of(empty)), b"");
    world.put("2024/notes.txt", b"hello");
    world.put("README", b"hello");
    world.put("2016/grid_0.05_0.05/grid_0.05_0.05.npy", b"hello");

    let proxy =
        FaultyProxy::start(&world.s3.endpoint, Faults { throttle_every: 4, hang: vec![3], ..Faults::default() });
    let saved = world.dir.join("listing.gz");
    let args =
        ["scan", "s3", "--list", "--threads", "8", "--request-timeout", "5", "--save-listing", saved.to_str().unwrap()];
    let started = Instant::now();
    let listed = world.succeeds(world.tessera(&proxy.endpoint, &args, b""));
    let took = started.elapsed();
    world.scan_from_s5cmd("copy");

    let report = String::from_utf8_lossy(&listed.stderr);
    assert_eq!(world.missing("s3"), [partial.clone(), empty.clone()], "{report}");
    assert_eq!(world.missing("s3"), world.missing("copy"));
    assert_eq!((world.count("s3", "copy"), world.count("copy", "s3")), (0, 0));
    // 2024's 2,970 keys fill three pages: the rest of its range after the first was split at
    // the degree folders, and listed at once.
    let (requests, ranges) = requests_and_ranges(&report);
    assert!(ranges > 10, "{report}");
    assert!(proxy.throttled() > 0 && proxy.hung() == 1, "{} throttled, {} hung", proxy.throttled(), proxy.hung());
    // Every answered request, every throttled one and the hung one went through the proxy.
    assert_eq!(proxy.requests() as u64, requests + proxy.throttled() as u64 + 1, "{report}");
    // The hung request was given up after its 5 seconds (a page of a thousand keys from moto may
    // take seconds of its own on a busy machine: a shorter timeout would abandon those too).
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(60), "the hung request timed out: {took:?}");
    for line in ["2 partial tiles", "1 zero-size tile file", "3 files that are not tile files"] {
        assert!(report.contains(line), "{line}: {report}");
    }

    // The saved listing scans to the same store.
    world.succeeds(world.tessera(&world.s3.endpoint, &["scan", "copy", saved.to_str().unwrap()], b""));
    assert_eq!(world.missing("copy"), world.missing("s3"));

    // A scope lists only its keys, and replaces only those; a folder marker object (`2025/`,
    // which object_store hands back as `2025`) is not the end of the scope.
    world.put_folder_marker("2025");
    let year = world.succeeds(world.tessera(&proxy.endpoint, &["scan", "s3", "--list", "--year", "2025"], b""));
    let in_2025 = world.keys.iter().filter(|key| key.starts_with("2025/")).count();
    let report = String::from_utf8_lossy(&year.stderr);
    assert!(report.contains(&format!("listed {} objects", 3 * in_2025)), "{report}");
    assert_eq!(world.missing("s3"), world.missing("copy"));
}

#[test]
fn verify_of_a_bucket_finds_damage_and_shards_verify_every_tile_once() {
    let _beside_others = beside_others();
    let Some(world) = World::new(200) else { return };
    world.scan_from_s5cmd("s3");
    world.scan_from_s5cmd("copy");
    assert!(world.missing("s3").is_empty());
    let (corrupted, truncated) = (&world.keys[5], &world.keys[150]); // sorted, as `missing` is
    let embeddings = format!("{corrupted}/{}.npy", name_of(corrupted));
    let size = world.s5cmd(&["ls", &format!("{ROOT}/{embeddings}")]).stdout.len();
    assert!(size > 0);
    let original = fs::read(world.dir.join("tree").join(&embeddings)).expect("read");
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 1;
    world.put(&embeddings, &flipped);
    let scales = format!("{truncated}/{}_scales.npy", name_of(truncated));
    let whole = fs::read(world.dir.join("tree").join(&scales)).expect("read");
    world.put(&scales, &whole[..whole.len() - 3]);

    // The whole store, through throttling and a hung request.
    let proxy =
        FaultyProxy::start(&world.s3.endpoint, Faults { throttle_every: 7, hang: vec![5], ..Faults::default() });
    let verify = world.tessera(
        &proxy.endpoint,
        &["verify", "s3", "--read-missing", "--threads", "4", "--request-timeout", "2"],
        b"",
    );
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{report}");
    assert!(report.contains(&format!("verified {} tiles of s3: 2 damaged", world.keys.len())), "{report}");
    assert!(report.contains(&format!("damaged: {corrupted} ({}.npy: sha256 differs", name_of(corrupted))), "{report}");
    assert!(
        report.contains(&format!("damaged: {truncated} ({}_scales.npy: sha256 differs", name_of(truncated))),
        "{report}"
    );
    assert_eq!(world.missing("s3"), [corrupted.clone(), truncated.clone()]);
    assert!(proxy.throttled() > 0 && proxy.hung() == 1);

    // Four shards over `copy`, one killed on its way and run again.
    let findings = world.dir.join("findings");
    let shard_args = |i: usize| {
        let shard = format!("{i}/4");
        let findings = findings.to_str().unwrap().to_owned();
        ["verify", "copy", "--read-missing", "--threads", "2", "--shard", &shard, "--findings", &findings]
            .map(str::to_owned)
    };
    let first = shard_args(1);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    // Its requests hang from the 90th on: it saves two chunks (8 tiles, 40 requests each: two
    // HEADs that settle nothing, as nothing was hashed, the SHA256 file and the two objects
    // read), then waits until killed.
    let stuck = FaultyProxy::start(
        &world.s3.endpoint,
        Faults { throttle_every: 0, hang: (90..10_000).collect(), ..Faults::default() },
    );
    let mut killed = world.command(&stuck.endpoint, &first).stderr(Stdio::null()).spawn().expect("spawn");
    let file = findings.join("copy-shard-1-of-4.jsonl");
    let started = Instant::now();
    while fs::read_to_string(&file).unwrap_or_default().matches("checked_through").count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "shard 1 saved nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The same shard started again while it runs is refused, and leaves its file alone.
    let twice = world.command(&world.s3.endpoint, &first).output().expect("a second shard 1");
    let said = String::from_utf8_lossy(&twice.stderr);
    assert_eq!(twice.status.code(), Some(2), "{said}");
    assert!(said.contains("shard 1/4 of copy is being verified by another process"), "{said}");
    killed.kill().expect("kill");
    killed.wait().expect("wait");
    drop(stuck);
    let shards: Vec<_> = (0..4)
        .map(|i| {
            let args = shard_args(i);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            world
                .command(&world.s3.endpoint, &args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut verified = 0;
    for (i, shard) in shards.into_iter().enumerate() {
        let output = shard.wait_with_output().expect("shard finishes");
        let report = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.code() == Some(0) || output.status.code() == Some(1), "{report}");
        let words: Vec<&str> = report.split_whitespace().collect();
        let at = words.iter().position(|word| *word == "verified").expect("a count");
        let count: usize = words[at + 1].parse().expect("a number");
        let ids = tile_ids(&world, &world.keys);
        assert_eq!(count, ids.iter().filter(|id| **id % 4 == i as u32).count(), "shard {i}: {report}");
        if i == 1 {
            assert!(report.contains("resuming after tile id"), "{report}");
        }
        verified += count;
    }
    assert_eq!(verified, world.keys.len(), "the shards together verified every tile once");
    assert_eq!(world.missing("copy"), Vec::<String>::new(), "a shard writes nothing to the inventory");
    let merge =
        world.tessera(&world.s3.endpoint, &["verify", "copy", "--merge-shards", findings.to_str().unwrap()], b"");
    let report = String::from_utf8_lossy(&merge.stderr);
    assert_eq!(merge.status.code(), Some(1), "{report}");
    assert!(report.contains("removed 2 damaged tiles from copy"), "{report}");
    assert_eq!(world.missing("copy"), [corrupted.clone(), truncated.clone()]);

    // Copied again and recorded, the tiles stay through a second merge of the same findings.
    let copied = format!("{corrupted}\n{truncated}\n");
    world.succeeds(world.tessera(&world.s3.endpoint, &["record", "copy"], copied.as_bytes()));
    let again =
        world.tessera(&world.s3.endpoint, &["verify", "copy", "--merge-shards", findings.to_str().unwrap()], b"");
    let report = String::from_utf8_lossy(&again.stderr);
    assert!(report.contains("removed 0 damaged tiles from copy"), "{report}");
    assert!(world.missing("copy").is_empty(), "{report}");
}

/// The tile ids of `keys`, as the inventory numbers them.
/// An object whose reads keep failing stops `verify` with an error naming it: it is neither
/// read whole in one buffer instead (an embeddings file is hundreds of MB) nor reported as
/// damage. An empty object, of which S3 refuses any range, is read and judged.
#[test]
fn verify_never_reads_an_object_whole_and_stops_on_one_it_cannot_read() {
    let _beside_others = beside_others();
    let Some(world) = World::new(20) else { return };
    world.scan_from_s5cmd("s3");
    let (failing, emptied) = (&world.keys[3], &world.keys[12]);
    let embeddings = format!("{failing}/{}.npy", name_of(failing));
    let scales = format!("{emptied}/{}_scales.npy", name_of(emptied));
    world.put(&scales, b"");

    let proxy = FaultyProxy::start(
        &world.s3.endpoint,
        Faults { fail_ranges_of: Some(embeddings.clone()), ..Faults::default() },
    );
    let verify = world.tessera(
        &proxy.endpoint,
        &["verify", "s3", "--read-missing", "--retries", "1", "--request-timeout", "2"],
        b"",
    );
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(2), "an unreadable object is an error: {report}");
    assert!(report.contains(&format!("cannot read s3://{BUCKET}/")) && report.contains(&embeddings), "{report}");
    assert_eq!(proxy.whole_gets(), 0, "no object was read whole: {report}");
    assert!(world.missing("s3").is_empty(), "an object that cannot be read is not damage");

    let proxy = FaultyProxy::start(&world.s3.endpoint, Faults::default());
    let verify = world.tessera(&proxy.endpoint, &["verify", "s3", "--read-missing"], b"");
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("damaged: {emptied} ({}_scales.npy: sha256 differs", name_of(emptied))),
        "{report}"
    );
    assert_eq!(proxy.whole_gets(), 0, "{report}");
    assert_eq!(world.missing("s3"), std::slice::from_ref(emptied));
}

/// An object replaced while `verify` is between its ranges (a `sync` writing it) is read
/// again from the start: never hashed as half of each version, which would call a good tile
/// damaged, or fail on the ranges past the end of a shorter one.
#[test]
fn verify_reads_an_object_replaced_mid_read_again_whole() {
    let _beside_others = beside_others();
    let Some(world) = World::new(10) else { return };
    world.scan_from_s5cmd("s3");
    let key = &world.keys[4];
    let embeddings = format!("{key}/{}.npy", name_of(key));
    let good = fs::read(world.dir.join("tree").join(&embeddings)).expect("read");
    // Damaged and over one 8 MiB range: the good bytes land after its first range is read.
    world.put(&embeddings, &vec![7u8; 9 << 20]);

    let good_file = world.dir.join("good");
    fs::write(&good_file, good).expect("write");
    let (s5cmd, endpoint) = (world.s5cmd.clone(), world.s3.endpoint.clone());
    let args = ["cp".to_owned(), good_file.to_str().expect("utf-8").to_owned(), format!("{ROOT}/{embeddings}")];
    let replace = Hook(Arc::new(move || {
        let put = Command::new(&s5cmd).args(&args).env("S3_ENDPOINT_URL", &endpoint).envs(AWS_ENV).status();
        assert!(put.expect("s5cmd runs").success(), "the object is replaced");
    }));
    let proxy = FaultyProxy::start(
        &world.s3.endpoint,
        Faults { on_first_read: Some((embeddings.clone(), replace)), ..Faults::default() },
    );
    let verify = world.tessera(&proxy.endpoint, &["verify", "s3", "--read-missing"], b"");
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(proxy.replaced(), 1, "{report}");
    assert_eq!(verify.status.code(), Some(0), "{report}");
    assert!(report.contains(&format!("verified {} tiles of s3: 0 damaged", world.keys.len())), "{report}");
    assert!(world.missing("s3").is_empty());
}

fn tile_ids(world: &World, keys: &[String]) -> Vec<u32> {
    let inventory = tessera_engine::inventory::Inventory::open_read_only(&world.inventory).expect("opens");
    let years = inventory.years();
    keys.iter()
        .map(|key| years.id(tessera_engine::grid::Tile::parse_key(key).expect("a key")).expect("in range").0)
        .collect()
}

/// The Job's `args`, its `completions`, and its `env` values, as `deploy/kubernetes` writes them.
fn indexed_job(yaml: &str) -> (Vec<String>, u32, Vec<(String, String)>) {
    let value_of = |key: &str| -> Option<&str> {
        yaml.lines().find_map(|line| line.trim().strip_prefix(key)).map(|rest| rest.trim().trim_matches('"'))
    };
    let args: Vec<String> = serde_json::from_str(value_of("args:").expect("args")).expect("args as a flow list");
    let completions = value_of("completions:").expect("completions").parse().expect("a count");
    assert_eq!(value_of("parallelism:"), value_of("completions:"), "one pod per shard at once");
    let lines: Vec<&str> = yaml.lines().map(str::trim).collect();
    let env = lines
        .windows(2)
        .filter_map(|pair| {
            let name = pair[0].strip_prefix("- name: ")?;
            let value = pair[1].strip_prefix("value: ")?;
            Some((name.to_owned(), value.trim_matches('"').to_owned()))
        })
        .collect();
    (args, completions, env)
}

#[test]
fn the_kubernetes_job_and_the_slurm_array_verify_every_tile_once() {
    let _beside_others = beside_others();
    let Some(world) = World::new(96) else { return };
    world.scan_from_s5cmd("s3");
    let damaged = &world.keys[40];
    let embeddings = format!("{damaged}/{}.npy", name_of(damaged));
    world.put(&embeddings, b"not what the registry says");
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");

    // Every index of the Job, its command as Kubernetes expands it; the findings volume mapped.
    let yaml = fs::read_to_string(deploy.join("kubernetes/verify-shards.yaml")).expect("the Job");
    let (args, completions, env) = indexed_job(&yaml);
    assert!(completions > 1);
    let findings = world.dir.join("k8s-findings");
    for index in 0..completions {
        let expand = |arg: &String| {
            let mut arg = arg.replace("$(JOB_COMPLETION_INDEX)", &index.to_string());
            for (name, value) in &env {
                arg = arg.replace(&format!("$({name})"), value);
            }
            arg.replace("/findings", findings.to_str().unwrap())
        };
        let args: Vec<String> = args.iter().map(expand).collect();
        assert!(!args.iter().any(|arg| arg.contains("$(")), "{args:?}");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if index == completions - 1 {
            let early = ["verify", "s3", "--merge-shards", findings.to_str().unwrap()];
            let early = world.tessera(&world.s3.endpoint, &early, b"");
            let said = String::from_utf8_lossy(&early.stderr);
            assert_eq!(early.status.code(), Some(2), "a merge before every shard ran fails: {said}");
            assert!(said.contains(&format!("shards not finished: {index}/{completions} (no file)")), "{said}");
        }
        let shard = world.tessera(&world.s3.endpoint, &args, b"");
        assert!(matches!(shard.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&shard.stderr));
    }
    let merge = world.tessera(&world.s3.endpoint, &["verify", "s3", "--merge-shards", findings.to_str().unwrap()], b"");
    let report = String::from_utf8_lossy(&merge.stderr);
    assert!(
        report.contains(&format!("verified {} tiles of s3 ({completions} shards): 1 damaged", world.keys.len())),
        "{report}"
    );
    assert_eq!(world.missing("s3"), std::slice::from_ref(damaged));

    // The Slurm array, each task as sbatch starts it, then the merge script.
    let script = deploy.join("slurm/verify-shards.sbatch");
    let text = fs::read_to_string(&script).expect("the array script");
    let array = text.lines().find_map(|line| line.strip_prefix("#SBATCH --array=0-")).expect("an array 0-N");
    let tasks: u32 = array.trim().parse::<u32>().expect("a count") + 1;
    let findings = world.dir.join("slurm-findings");
    let bin = Path::new(env!("CARGO_BIN_EXE_tessera")).parent().expect("the binary's folder").to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let sbatch = |script: &Path, task: Option<u32>| {
        let mut command = Command::new("bash");
        command.arg(script).env("PATH", &path).env("TESSERA_INVENTORY", &world.inventory);
        command
            .env("STORE", "copy")
            .env("FINDINGS", &findings)
            .env("S3_ENDPOINT_URL", &world.s3.endpoint)
            .envs(AWS_ENV);
        if let Some(task) = task {
            command.env("SLURM_ARRAY_TASK_ID", task.to_string()).env("SLURM_ARRAY_TASK_COUNT", tasks.to_string());
        }
        command.output().expect("bash runs")
    };
    world.scan_from_s5cmd("copy");
    for task in 0..tasks {
        let output = sbatch(&script, Some(task));
        assert!(matches!(output.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let merged = sbatch(&deploy.join("slurm/verify-merge.sbatch"), None);
    assert!(merged.status.success(), "damage found is the merge done: {}", String::from_utf8_lossy(&merged.stderr));
    assert_eq!(world.missing("copy"), std::slice::from_ref(damaged));
    // Outside an array the script refuses to run.
    let alone = sbatch(&script, None);
    assert!(!alone.status.success() && String::from_utf8_lossy(&alone.stderr).contains("sbatch"));
}

/// Writes `bytes` at `key` under the store's root with the CRC64NVME S3 computes for every
/// upload, sent as an SDK sends it (moto keeps a checksum only when the uploader sends one):
/// presigned by object_store with the checksum headers bound into the signature.
fn put_with_crc64nvme(world: &World, key: &str, bytes: &[u8]) {
    use base64::Engine;
    use object_store::signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer};
    use std::io::{Read, Write};
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    crc.update(bytes);
    let checksum = base64::engine::general_purpose::STANDARD.encode(crc.finalize().to_be_bytes());
    let headers = [("x-amz-sdk-checksum-algorithm", "CRC64NVME".to_owned()), ("x-amz-checksum-crc64nvme", checksum)];
    let mut options = SignedUrlOptions::default();
    for (name, value) in &headers {
        let value = HeaderValue::from_str(value).expect("a header value");
        options = options.with_signed_header(HeaderName::from_static(name), value);
    }
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(&world.s3.endpoint)
        .with_allow_http(true)
        .with_access_key_id(AWS_ENV[0].1)
        .with_secret_access_key(AWS_ENV[1].1)
        .with_region(AWS_ENV[2].1)
        .build()
        .expect("a client");
    let path = object_store::path::Path::from(format!("{}/{key}", ROOT.trim_start_matches("s3://tessera/")));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let url = runtime
        .block_on(s3.signed_url_opts(Method::PUT, &path, Duration::from_secs(300), &options))
        .expect("a presigned URL");
    let host = world.s3.endpoint.trim_start_matches("http://");
    let target = &url.as_str()[url.as_str().find(host).expect("the endpoint's URL") + host.len()..];
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the S3 server");
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "PUT {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        bytes.len()
    )
    .expect("send");
    stream.write_all(bytes).expect("send the body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "PUT {target}: {answer}");
}

/// Once the primary is hashed, a mirror on S3 filled by `sync` verifies by HEADs alone: no
/// byte is read (counted by the proxy in front of the S3 server), an object replaced with other
/// bytes of the same size is named, S3's CRC64NVME is compared where it keeps one, `--dry-run`
/// prints the requests, and the upload itself was confirmed by checksum. (moto keeps no
/// checksum of an upload that sends none, as s5cmd's: the ETag is what those are judged by.)
#[test]
fn a_mirror_synced_from_a_hashed_primary_verifies_by_head_without_reading_a_byte() {
    let _beside_others = beside_others();
    let Some(world) = World::new(24) else { return };
    world.succeeds(world.s5cmd(&["rm", &format!("{ROOT}/*")]));
    world.succeeds(world.tessera(&world.s3.endpoint, &["scan", "primary", "--list"], b""));
    assert_eq!(world.missing("s3").len(), world.keys.len());

    let hashed = world.succeeds(world.tessera(&world.s3.endpoint, &["hash", "primary"], b""));
    let said = String::from_utf8_lossy(&hashed.stderr);
    assert!(said.contains(&format!("recorded the checksums of {} tiles of primary", world.keys.len())), "{said}");
    assert!(said.contains("MD5"), "an inventory with an S3 store asks for MD5s: {said}");
    let synced = world.succeeds(world.tessera(&world.s3.endpoint, &["sync", "primary", "s3"], b""));
    let said = String::from_utf8_lossy(&synced.stderr);
    assert!(said.contains(&format!("{} confirmed by the checksums S3 keeps", world.keys.len())), "{said}");
    assert!(world.missing("s3").is_empty());

    let plan = world.succeeds(world.tessera(&world.s3.endpoint, &["verify", "s3", "--dry-run"], b""));
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains(&format!("HEAD requests: {}", 2 * world.keys.len())), "{plan}");
    assert!(plan.contains(&format!("settled by their HEAD): {}", 2 * world.keys.len())), "{plan}");

    let proxy = FaultyProxy::start(&world.s3.endpoint, Faults::default());
    let verify = world.tessera(&proxy.endpoint, &["verify", "s3"], b"");
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(0), "{report}");
    assert!(report.contains(&format!("{} by checksums recorded by `tessera hash`", 2 * world.keys.len())), "{report}");
    assert_eq!(proxy.object_gets(), 0, "verified without a GET: {report}");
    assert_eq!(proxy.heads(), 2 * world.keys.len(), "{report}");

    // Other bytes of the same size: its ETag tells.
    let replaced = &world.keys[3];
    let embeddings = format!("{replaced}/{}.npy", name_of(replaced));
    let mut bytes = fs::read(world.dir.join("tree").join(&embeddings)).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    world.put(&embeddings, &bytes);
    let proxy = FaultyProxy::start(&world.s3.endpoint, Faults::default());
    let verify = world.tessera(&proxy.endpoint, &["verify", "s3", "--restart"], b"");
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("damaged: {replaced} ({}.npy: MD5 (ETag) differs", name_of(replaced))),
        "{report}"
    );
    assert!(report.contains(&format!("verified {} tiles of s3: 1 damaged", world.keys.len())), "{report}");
    assert_eq!(proxy.object_gets(), 0, "{report}");
    assert_eq!(world.missing("s3"), std::slice::from_ref(replaced));

    // An object S3 keeps a CRC64NVME of is judged by it: the right bytes pass, other bytes of
    // the same size do not (their CRC is theirs; the ETag is not looked at).
    let with_crc = &world.keys[9];
    let scales = format!("{with_crc}/{}_scales.npy", name_of(with_crc));
    let good = fs::read(world.dir.join("tree").join(&scales)).expect("read");
    put_with_crc64nvme(&world, &scales, &good);
    let verify = world.tessera(&world.s3.endpoint, &["verify", "s3", "--restart"], b"");
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(0), "{report}");
    let mut other = good.clone();
    other[0] ^= 1;
    put_with_crc64nvme(&world, &scales, &other);
    let verify = world.tessera(&world.s3.endpoint, &["verify", "s3", "--restart"], b"");
    let report = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{report}");
    let problem = format!("damaged: {with_crc} ({}_scales.npy: CRC64NVME differs", name_of(with_crc));
    assert!(report.contains(&problem), "{report}");
}

/// A source file damaged after it was hashed (same size, same modification time: nothing
/// but its bytes tell) is uploaded by `sync`, and the upload's checksum contradicts the one
/// recorded: the tile is failed and not recorded.
#[test]
fn sync_does_not_record_an_upload_whose_checksum_contradicts_the_source_s() {
    let _beside_others = beside_others();
    let Some(world) = World::new(12) else { return };
    world.succeeds(world.s5cmd(&["rm", &format!("{ROOT}/*")]));
    world.succeeds(world.tessera(&world.s3.endpoint, &["scan", "primary", "--list"], b""));
    world.succeeds(world.tessera(&world.s3.endpoint, &["hash", "primary"], b""));
    let rotten = &world.keys[5];
    let path = world.dir.join("tree").join(format!("{rotten}/{}.npy", name_of(rotten)));
    let modified = fs::metadata(&path).expect("stat").modified().expect("mtime");
    let mut bytes = fs::read(&path).expect("read");
    bytes[200] ^= 4;
    fs::write(&path, &bytes).expect("write");
    fs::File::options().write(true).open(&path).expect("open").set_modified(modified).expect("keep the mtime");

    let synced = world.tessera(&world.s3.endpoint, &["sync", "primary", "s3", "--retries", "0"], b"");
    let said = String::from_utf8_lossy(&synced.stderr);
    assert_eq!(synced.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("failed: {rotten} (uploaded, but {}.npy: MD5 (ETag) differs", name_of(rotten))),
        "{said}"
    );
    assert_eq!(world.missing("s3"), std::slice::from_ref(rotten));
}
