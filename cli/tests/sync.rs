//! `tessera sync` on GeoTessera's three-store topology, on this machine, with the real tools:
//! a directory primary of real tile folders (two `.npy` files and `SHA256` each) for every tile
//! of the small demo's registry in its last three years (about 1,800 tiles, 5,400 files: the
//! S3 server takes about 400 objects a second), an S3 mirror on a loopback S3 server (moto), and a directory
//! mirror standing for the CephFS mount. rsync copies between the directories, s5cmd to and
//! from the bucket.
//!
//! Then the faults, each ending with nothing lost and nothing recorded that is not there:
//! source files gone after the scan, the S3 server stopped mid-sync and restarted, `kill -9`
//! of the sync at random moments, and a target whose disk fills up.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::tools::{AWS_ENV, S3, require};
use tessera_engine::grid::{DEFAULT_YEARS, TileId, Year};
use tessera_engine::inventory::Inventory;
use tessera_fixtures::{DEFAULT_SEED, DemoSize, DemoSpec, TileFiles, generate, write_registry_of, write_tile_folders};

const BUCKET: &str = "tessera-sync";
/// The small demo's years that the primary holds.
const YEARS: std::ops::RangeInclusive<Year> = 2023..=2025;

/// The three stores, their inventory, and the registry's tiles as written to the primary.
struct World {
    temp: tempfile::TempDir,
    inventory: PathBuf,
    primary: PathBuf,
    cephfs: PathBuf,
    s3: S3,
    /// The registry's tiles, sorted by id: what every store should end up holding.
    tiles: Vec<TileFiles>,
}

impl World {
    /// The primary holds every registry tile of [`YEARS`] (real files) and has been scanned;
    /// the mirrors are empty.
    fn new(moto: &Path) -> World {
        let temp = tempfile::tempdir().expect("temp dir");
        let (primary, cephfs) = (temp.path().join("primary"), temp.path().join("cephfs"));
        fs::create_dir_all(&cephfs).expect("mkdir");
        let demo = generate(&DemoSpec { size: DemoSize::Small, seed: DEFAULT_SEED });
        let in_years = |id: &&TileId| demo.years.tile(**id).is_ok_and(|tile| YEARS.contains(&tile.year));
        let ids: Vec<TileId> = demo.registry.iter().filter(in_years).copied().collect();
        let tiles = write_tile_folders(&primary, demo.years, &ids, DEFAULT_SEED).expect("tile folders");
        let registry = temp.path().join("registry.parquet");
        write_registry_of(&registry, demo.years, &tiles).expect("registry");
        let s3 = S3::start(moto, temp.path());
        let world = World { inventory: temp.path().join("inventory"), primary, cephfs, s3, tiles, temp };
        let stores = [
            format!("okavango=primary,{},https://dl2.example/v1", world.primary.display()),
            format!("s3=mirror,s3://{BUCKET}/v1,https://s3.example/v1"),
            format!("scaleway=mirror,{},https://scw.example/v1", world.cephfs.display()),
        ];
        let init: Vec<&str> = ["init"].into_iter().chain(stores.iter().flat_map(|s| ["--store", s.as_str()])).collect();
        world.ok(&init);
        world.ok(&["import", registry.to_str().expect("utf-8")]);
        world.scan_directory("okavango", &world.primary);
        world.s5cmd(&["mb", &format!("s3://{BUCKET}")]);
        world
    }

    /// `tessera --inventory INVENTORY ARGS` with the S3 server's endpoint and credentials.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .arg("--inventory")
            .arg(&self.inventory)
            .args(args)
            .env_remove("TESSERA_INVENTORY")
            .env("S3_ENDPOINT_URL", &self.s3.endpoint)
            .envs(AWS_ENV);
        command
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut command = self.command(args);
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tessera runs");
        child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
        child.wait_with_output().expect("tessera ends")
    }

    /// Runs tessera, expecting success; returns stdout and stderr.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let output = self.run(args, b"");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "tessera {args:?} failed: {stderr}");
        (String::from_utf8(output.stdout).expect("utf-8"), stderr)
    }

    fn s5cmd(&self, args: &[&str]) -> Output {
        Command::new("s5cmd")
            .args(args)
            .env("S3_ENDPOINT_URL", &self.s3.endpoint)
            .envs(AWS_ENV)
            .output()
            .expect("s5cmd")
    }

    /// `find DIR -type f -printf '%s %p\n' | tessera scan STORE --strict`.
    fn scan_directory(&self, store: &str, dir: &Path) {
        self.scan_directory_with(store, dir, &["--strict"]);
    }

    /// The same scan with other flags (none: files that are not tiles are only noted).
    fn scan_directory_with(&self, store: &str, dir: &Path, flags: &[&str]) {
        let listing = Command::new("find").arg(dir).args(["-type", "f", "-printf", "%s %p\\n"]).output().expect("find");
        let args: Vec<&str> = ["scan", store].iter().chain(flags).copied().collect();
        let scan = self.run(&args, &listing.stdout);
        assert!(scan.status.success(), "scan {store}: {}", String::from_utf8_lossy(&scan.stderr));
    }

    /// `s5cmd ls 's3://BUCKET/v1/*' | tessera scan s3 --strict` (an empty bucket lists nothing).
    fn scan_bucket(&self) {
        let listing = self.s5cmd(&["ls", &format!("s3://{BUCKET}/v1/*")]);
        let scan = self.run(&["scan", "s3", "--strict"], &listing.stdout);
        assert!(scan.status.success(), "scan s3: {}", String::from_utf8_lossy(&scan.stderr));
    }

    /// What `status --json` counts: every figure but when each store was listed and the
    /// records made since, which a rescan changes by design.
    fn counts(&self) -> serde_json::Value {
        let mut status: serde_json::Value = serde_json::from_str(&self.ok(&["status", "--json"]).0).expect("json");
        for store in status["stores"].as_array_mut().expect("stores") {
            let store = store.as_object_mut().expect("a store");
            store.remove("listed_at");
            store.remove("records_since");
        }
        status
    }

    /// The keys `tessera diff SOURCE TARGET` prints.
    fn missing(&self, source: &str, target: &str) -> Vec<String> {
        self.ok(&["diff", source, target]).0.lines().map(str::to_owned).collect()
    }

    fn key(&self, id: TileId) -> String {
        DEFAULT_YEARS.tile(id).expect("a registry tile").key().to_string()
    }

    /// Registry tiles of `year`, every `step`-th.
    fn some_tiles(&self, year: Year, step: usize) -> Vec<TileFiles> {
        let of_year = |t: &&TileFiles| DEFAULT_YEARS.tile(t.id).is_ok_and(|tile| tile.year == year);
        self.tiles.iter().filter(of_year).step_by(step).copied().collect()
    }

    /// Every tile `store` has recorded is whole there: both `.npy` files (and `SHA256`) with
    /// the registry's sizes, which are also the sizes recorded.
    fn assert_recorded_tiles_are_whole(&self, store: &str) {
        let rows = Inventory::open(&self.inventory).expect("inventory").rows(store).expect("rows");
        let held = match store {
            "s3" => self.bucket_sizes(),
            "okavango" => directory_sizes(&self.primary),
            _ => directory_sizes(&self.cephfs),
        };
        for row in rows {
            let key = self.key(row.id);
            let at = self.tiles.binary_search_by_key(&row.id, |t| t.id).expect("recorded tiles are registry tiles");
            let want = (self.tiles[at].file_size, self.tiles[at].scales_size);
            assert_eq!((row.file_size, row.scales_size), (Some(want.0), Some(want.1)), "{store}: {key} recorded sizes");
            let name = key.rsplit('/').next().expect("a key");
            let size = |file: &str| held.get(&format!("{key}/{file}")).copied();
            assert_eq!(size(&format!("{name}.npy")), Some(want.0), "{store}: {key} recorded but its .npy is not whole");
            assert_eq!(size(&format!("{name}_scales.npy")), Some(want.1), "{store}: {key} scales not whole");
            assert!(size("SHA256").is_some(), "{store}: {key} recorded without its SHA256 file");
        }
    }

    /// `key/file` -> size of every object in the bucket.
    fn bucket_sizes(&self) -> HashMap<String, u64> {
        let listing = self.s5cmd(&["ls", &format!("s3://{BUCKET}/v1/*")]);
        let text = String::from_utf8_lossy(&listing.stdout);
        text.lines()
            .filter_map(|line| {
                // `2026/11/29 18:38:32        108527232  2024/grid_0.85_49.95/grid_0.85_49.95.npy`
                let fields: Vec<&str> = line.split_whitespace().collect();
                Some(((*fields.get(3)?).to_owned(), fields.get(2)?.parse().ok()?))
            })
            .collect()
    }

    /// Sync SOURCE TARGET in the background (for killing).
    fn spawn_sync(&self, args: &[&str]) -> Child {
        let args: Vec<&str> = ["sync"].iter().chain(args).copied().collect();
        self.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("tessera sync starts")
    }
}

/// `year/grid_x_y/file` -> size of every file below `root`.
fn directory_sizes(root: &Path) -> HashMap<String, u64> {
    let mut sizes = HashMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let (Ok(relative), Ok(meta)) = (path.strip_prefix(root), entry.metadata()) {
                sizes.insert(relative.to_string_lossy().into_owned(), meta.len());
            }
        }
    }
    sizes
}

fn status_of(output: &Output) -> (Option<i32>, String) {
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn sync_fills_both_mirrors_refills_the_primary_and_fresh_listings_agree() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd", "rsync"]) else { return };
    let world = World::new(&moto);
    let all = world.tiles.len();

    let (plan, _) = world.ok(&["sync", "okavango", "scaleway", "--dry-run"]);
    assert!((1_000..1_000_000).contains(&all));
    let tiles = format!("Tiles: {},{:03}, ", all / 1000, all % 1000);
    assert!(plan.contains("with rsync (directory to directory)") && plan.contains(&tiles), "{plan}");
    assert_eq!(world.missing("okavango", "scaleway").len(), all, "a dry run copies nothing");

    // The CephFS mirror with rsync, the bucket with s5cmd: each in one summary line.
    let (_, said) = world.ok(&["sync", "okavango", "scaleway"]);
    assert!(said.contains(&format!("with rsync: {all} of {all} tiles copied and recorded")), "{said}");
    let said_more = said.lines().filter(|line| !line.starts_with("tessera: note:")).count();
    assert_eq!(said_more, 1, "a pipe gets one summary line (besides notes on opening): {said}");
    let (_, said) = world.ok(&["sync", "okavango", "s3", "--jobs", "4", "--chunk", "500"]);
    assert!(said.contains(&format!("with s5cmd: {all} of {all} tiles copied and recorded")), "{said}");
    for target in ["scaleway", "s3"] {
        assert!(world.missing("okavango", target).is_empty(), "{target}");
        world.assert_recorded_tiles_are_whole(target);
    }

    // Tiles lost from the primary: a rescan finds them gone, the registry lists them, and the
    // bucket fills them back in, byte for byte (verify re-hashes against the registry).
    let lost: Vec<String> = world.tiles.iter().step_by(97).map(|t| world.key(t.id)).collect();
    for key in &lost {
        fs::remove_dir_all(world.primary.join(key)).expect("remove a tile folder");
    }
    world.scan_directory("okavango", &world.primary);
    assert_eq!(world.missing("registry", "okavango"), lost);
    let (status, _) = world.ok(&["status"]);
    assert!(status.contains(&format!("registry -> okavango: {} missing", lost.len())), "{status}");
    let refused = status_of(&world.run(&["sync", "registry", "okavango"], b""));
    assert!(refused.0 == Some(2) && refused.1.contains("tessera sync s3 okavango"), "{refused:?}");
    world.ok(&["sync", "s3", "okavango"]);
    assert!(world.missing("registry", "okavango").is_empty());
    world.ok(&["verify", "okavango"]);

    // A truncated copy on the mirror is sent again with --stale.
    let damaged = world.key(world.tiles[10].id);
    let file = world.cephfs.join(&damaged).join(format!("{}.npy", damaged.rsplit('/').next().expect("key")));
    fs::write(&file, b"\x93NUMPY truncated").expect("truncate");
    world.scan_directory_with("scaleway", &world.cephfs, &[]);
    assert_eq!(world.ok(&["diff", "okavango", "scaleway", "--stale"]).0.trim(), damaged);
    let (_, said) = world.ok(&["sync", "okavango", "scaleway", "--stale"]);
    assert!(said.contains("1 of 1 tiles copied"), "{said}");

    // Fresh listings of all three stores agree with what the syncs recorded.
    let recorded = world.counts();
    world.assert_recorded_tiles_are_whole("scaleway");
    world.scan_directory("okavango", &world.primary);
    world.scan_directory("scaleway", &world.cephfs);
    world.scan_bucket();
    assert_eq!(world.counts(), recorded);
    for (source, target) in [("registry", "okavango"), ("okavango", "s3"), ("okavango", "scaleway"), ("s3", "okavango")]
    {
        assert_eq!(world.ok(&["diff", source, target, "--count"]).0.trim(), "0", "{source} -> {target}");
    }
    assert_eq!(world.ok(&["diff", "okavango", "scaleway", "--stale", "--count"]).0.trim(), "0");
    world.ok(&["check", "--strict"]);
}

#[test]
fn tiles_whose_source_files_went_missing_fail_alone_and_land_once_put_back() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd", "rsync"]) else { return };
    let world = World::new(&moto);
    // After the scan, some tile folders leave the primary, and one tile loses its scales file.
    let away = world.temp.path().join("away");
    let gone: Vec<String> = world.some_tiles(2024, 50).iter().map(|t| world.key(t.id)).collect();
    for key in &gone {
        fs::create_dir_all(away.join(key).parent().expect("a year")).expect("mkdir");
        fs::rename(world.primary.join(key), away.join(key)).expect("move a tile folder away");
    }
    let partial = world.key(world.some_tiles(2024, 7)[3].id);
    let scales = format!("{}_scales.npy", partial.rsplit('/').next().expect("key"));
    fs::rename(world.primary.join(&partial).join(&scales), world.temp.path().join(&scales)).expect("move");
    let id_of =
        |key: &String| DEFAULT_YEARS.id(tessera_engine::grid::Tile::parse_key(key).expect("a key")).expect("an id");
    let mut failing: Vec<String> = gone.iter().cloned().chain([partial.clone()]).collect();
    failing.sort_by_key(id_of);

    for (target, tool) in [("scaleway", "rsync"), ("s3", "s5cmd")] {
        let args = ["sync", "okavango", target, "--year", "2024", "--retries", "1", "--retry-delay", "0.1"];
        let (code, said) = status_of(&world.run(&args, b""));
        assert_eq!(code, Some(1), "{said}");
        assert!(
            said.contains(&format!("with {tool}: ")) && said.contains(&format!("; {} failed", failing.len())),
            "{said}"
        );
        for key in &failing {
            assert!(said.contains(&format!("failed: {key} (")), "{key} not named: {said}");
        }
        assert!(said.contains("nothing failed was recorded"), "{said}");
        assert_eq!(
            world.missing("okavango", target).iter().filter(|k| k.starts_with("2024/")).cloned().collect::<Vec<_>>(),
            failing
        );
        world.assert_recorded_tiles_are_whole(target);
    }

    for key in &gone {
        fs::rename(away.join(key), world.primary.join(key)).expect("put the folder back");
    }
    fs::rename(world.temp.path().join(&scales), world.primary.join(&partial).join(&scales)).expect("put back");
    for target in ["scaleway", "s3"] {
        world.ok(&["sync", "okavango", target, "--year", "2024"]);
        assert!(world.missing("okavango", target).iter().all(|k| !k.starts_with("2024/")), "{target}");
        world.assert_recorded_tiles_are_whole(target);
    }
}

#[test]
fn an_s3_server_stopped_mid_sync_and_restarted_loses_nothing() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd"]) else { return };
    let mut world = World::new(&moto);
    let args =
        ["okavango", "s3", "--year", "2024", "--chunk", "10", "--jobs", "2", "--retries", "6", "--retry-delay", "1"];
    let year = world.some_tiles(2024, 1).len();
    let sync = world.spawn_sync(&args);
    // Once some chunks are recorded, the server goes away for a few seconds.
    let started = Instant::now();
    while world.missing("okavango", "s3").iter().filter(|k| k.starts_with("2024/")).count() == year {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing was recorded within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    world.s3.stop();
    std::thread::sleep(Duration::from_millis(1500));
    world.s3.restart();
    let output = sync.wait_with_output().expect("the sync ends");
    let said = String::from_utf8_lossy(&output.stderr);
    eprintln!("the sync through the outage said: {said}");
    // Whatever failed while the server was away was tried again; anything still failing
    // is left for the next sync, which finishes.
    world.assert_recorded_tiles_are_whole("s3");
    if !output.status.success() {
        assert!(said.contains("nothing failed was recorded"), "{said}");
        world.ok(&["sync", "okavango", "s3", "--year", "2024"]);
    }
    assert!(world.missing("okavango", "s3").iter().all(|k| !k.starts_with("2024/")));
    world.assert_recorded_tiles_are_whole("s3");
    let recorded = world.counts();
    world.scan_bucket();
    assert_eq!(world.counts(), recorded, "the bucket's listing agrees with the records");
}

#[test]
fn four_sync_shards_at_once_copy_and_record_every_tile_once() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd", "rsync"]) else { return };
    let world = World::new(&moto);
    let all = world.tiles.len();
    let of_shard = |i: u32| world.tiles.iter().filter(|tile| tile.id.0 % 4 == i).count();
    let records = || -> usize {
        let status: serde_json::Value = serde_json::from_str(&world.ok(&["status", "--json"]).0).expect("json");
        let stores = status["stores"].as_array().expect("stores");
        let scaleway = stores.iter().find(|store| store["name"] == "scaleway").expect("scaleway");
        scaleway["records_since"].as_u64().expect("a count") as usize
    };

    // Shard 2 is killed once it has recorded a few chunks, and runs again with the others.
    let mut killed = world.spawn_sync(&["okavango", "scaleway", "--shard", "2/4", "--chunk", "5", "--jobs", "1"]);
    let started = Instant::now();
    while records() < 10 {
        assert!(started.elapsed() < Duration::from_secs(60), "shard 2 recorded nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.kill().expect("kill -9");
    killed.wait().expect("reaped");
    let before = records();
    assert!(before < of_shard(2), "shard 2 was killed on its way");

    let shards: Vec<Child> = (0..4)
        .map(|i| world.spawn_sync(&["okavango", "scaleway", "--shard", &format!("{i}/4"), "--chunk", "40"]))
        .collect();
    for (i, shard) in (0..4).zip(shards) {
        let output = shard.wait_with_output().expect("the shard ends");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "shard {i}: {said}");
        let expected = of_shard(i) - if i == 2 { before } else { 0 };
        let copied = format!("(shard {i}/4) with rsync: {expected} of {expected} tiles copied and recorded");
        assert!(said.contains(&copied), "shard {i}: {said}");
    }
    assert!(world.missing("okavango", "scaleway").is_empty());
    assert_eq!(records(), all, "each tile recorded once, by one shard");
    world.assert_recorded_tiles_are_whole("scaleway");
    let recorded = world.counts();
    world.scan_directory("scaleway", &world.cephfs);
    assert_eq!(world.counts(), recorded, "a fresh listing agrees with the records");
}

#[test]
fn kill_9_at_random_moments_loses_no_record_and_a_resume_finishes() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd", "rsync"]) else { return };
    let world = World::new(&moto);
    let seed = Instant::now().elapsed().subsec_nanos() as u64 ^ u64::from(std::process::id());
    eprintln!("kill moments drawn with seed {seed}");
    let mut rng = seed | 1;
    let mut interrupted = 0;
    let started = Instant::now();
    for round in 0..12 {
        // Alternate the tools: rsync into the directory mirror, s5cmd into the bucket. Small
        // chunks keep every sync running long enough to be killed mid-copy.
        let (target, chunk, jobs) = if round % 2 == 0 { ("scaleway", "2", "1") } else { ("s3", "20", "2") };
        let mut sync = world.spawn_sync(&["okavango", target, "--year", "2024,2025", "--chunk", chunk, "--jobs", jobs]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(100 + rng % 900));
        if sync.try_wait().expect("wait").is_none() {
            interrupted += 1;
        }
        sync.kill().expect("kill -9");
        sync.wait().expect("reaped");
        eprintln!("round {round}: killed at {:?}", started.elapsed());
        for store in ["scaleway", "s3"] {
            world.assert_recorded_tiles_are_whole(store);
        }
    }
    assert!(interrupted >= 10, "only {interrupted} of 12 kills caught a sync running");
    for target in ["scaleway", "s3"] {
        let before = world
            .missing("okavango", target)
            .iter()
            .filter(|k| k.starts_with("2024/") || k.starts_with("2025/"))
            .count();
        let (_, said) = world.ok(&["sync", "okavango", target, "--year", "2024,2025"]);
        assert!(
            said.contains(&format!("{before} of {before} tiles copied")),
            "the resume sends only what is left: {said}"
        );
        assert!(world.missing("okavango", target).iter().all(|k| !k.starts_with("2024/") && !k.starts_with("2025/")));
        world.assert_recorded_tiles_are_whole(target);
    }
    // A killed rsync leaves its temporary files (`.name.XXXXXX`) beside the tiles: a strict
    // scan would refuse them, so this one only notes them.
    let recorded = world.counts();
    world.scan_directory_with("scaleway", &world.cephfs, &[]);
    world.scan_bucket();
    assert_eq!(world.counts(), recorded, "fresh listings agree with the records");
}

#[test]
fn a_full_disk_fails_the_copies_that_do_not_fit_and_records_only_whole_tiles() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd", "rsync"]) else { return };
    let world = World::new(&moto);
    // The directory mirror on a 1 MiB tmpfs: about 80 tiles fit (every file takes a page).
    let mount =
        |options: &str| Command::new("mount").args(["-t", "tmpfs", "-o", options, "tmpfs"]).arg(&world.cephfs).output();
    match mount("size=1m") {
        Ok(output) if output.status.success() => {}
        other => {
            eprintln!("skipped: cannot mount a tmpfs here ({other:?})");
            return;
        }
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&world.cephfs);
    let year = world.some_tiles(2024, 1).len();
    let args =
        ["sync", "okavango", "scaleway", "--year", "2024", "--chunk", "25", "--retries", "1", "--retry-delay", "0.1"];
    let (code, said) = status_of(&world.run(&args, b""));
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("No space left on device") || said.contains("bytes at the target"), "{said}");
    let left = world.missing("okavango", "scaleway").iter().filter(|k| k.starts_with("2024/")).count();
    assert!(left > 0 && left < year, "some tiles fit and were recorded, the rest failed: {left} of {year} left");
    world.assert_recorded_tiles_are_whole("scaleway");

    // Room again: the next sync sends only what is left.
    let grow = Command::new("mount").args(["-o", "remount,size=64m"]).arg(&world.cephfs).status().expect("remount");
    assert!(grow.success());
    let (_, said) = world.ok(&["sync", "okavango", "scaleway", "--year", "2024"]);
    assert!(said.contains(&format!("{left} of {left} tiles copied")), "{said}");
    world.assert_recorded_tiles_are_whole("scaleway");
    world.scan_directory("scaleway", &world.cephfs);
    assert!(world.missing("okavango", "scaleway").iter().all(|k| !k.starts_with("2024/")));
}
