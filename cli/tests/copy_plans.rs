//! The copy plan for every pair of store kinds (directory or S3 on each side), against golden
//! files, and each plan run once by its real tool: `s5cmd run` for anything with S3, `rsync
//! --files-from` and `cp -a` lines under `xargs -P` between two directories. After each run
//! a fresh listing of the target, scanned, leaves nothing missing. `tessera sync` then drives
//! the two pairs the plans leave out: `--tool cp`, and S3 to S3.
//!
//! Golden files are in `tests/golden/plans/`, with the temporary directory written as
//! `/ROOT`; rewrite them after an intended change with `TESSERA_UPDATE_GOLDEN=1`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::tools::{AWS_ENV, S3, require};
use tessera_engine::grid::{DEFAULT_YEARS, Tile, TileId};
use tessera_fixtures::{write_registry_of, write_tile_folders};

const BUCKET: &str = "tessera-plans";

/// Eight tiles in two years, on both sides of the antimeridian and of the equator.
const KEYS: [&str; 8] = [
    "2024/grid_0.85_49.95",
    "2024/grid_0.95_49.95",
    "2024/grid_-0.05_-0.05",
    "2024/grid_179.95_-16.65",
    "2024/grid_-179.95_-16.65",
    "2025/grid_18.45_-33.95",
    "2025/grid_139.75_35.65",
    "2025/grid_-72.35_-13.55",
];

struct Plans {
    temp: tempfile::TempDir,
    inventory: PathBuf,
    s3: S3,
}

impl Plans {
    fn root(&self) -> &Path {
        self.temp.path()
    }

    fn tessera(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .arg("--inventory")
            .arg(&self.inventory)
            .args(args)
            .env("S3_ENDPOINT_URL", &self.s3.endpoint)
            .envs(AWS_ENV);
        run(command, stdin)
    }

    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let output = self.tessera(args, stdin);
        assert!(output.status.success(), "tessera {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8")
    }

    fn s5cmd(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut command = Command::new("s5cmd");
        command.args(args).env("S3_ENDPOINT_URL", &self.s3.endpoint).envs(AWS_ENV);
        run(command, stdin)
    }

    /// A fresh listing of `store` scanned strictly: a directory with `find`, a prefix with `s5cmd ls`.
    fn rescan(&self, store: &str) {
        let listing = match store {
            "dir_a" | "dir_b" => {
                let mut find = Command::new("find");
                find.arg(self.root().join(store)).args(["-type", "f", "-printf", "%s %p\\n"]);
                run(find, None).stdout
            }
            _ => self.s5cmd(&["ls", &format!("s3://{BUCKET}/{store}/*")], None).stdout,
        };
        self.ok(&["scan", store, "--strict"], Some(&listing));
    }

    fn missing(&self, source: &str, target: &str) -> usize {
        self.ok(&["diff", source, target, "--count"], None).trim().parse().expect("a count")
    }

    /// The copy list of `source -> target` in `format`, checked against its golden file.
    fn plan(&self, source: &str, target: &str, format: &str) -> Vec<u8> {
        let list = self.ok(&["diff", source, target, "--format", format], None);
        let golden =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/plans/{source}-{target}.{format}"));
        let normalised = list.replace(&self.root().display().to_string(), "/ROOT");
        if std::env::var_os("TESSERA_UPDATE_GOLDEN").is_some() {
            fs::create_dir_all(golden.parent().expect("a folder")).expect("mkdir");
            fs::write(&golden, &normalised).expect("write golden");
        }
        let expected = fs::read_to_string(&golden).unwrap_or_else(|_| panic!("{} is missing", golden.display()));
        assert_eq!(normalised, expected, "{source} -> {target} as {format}");
        list.into_bytes()
    }
}

fn run(mut command: Command, stdin: Option<&[u8]>) -> Output {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("the command runs");
    let input = child.stdin.take().expect("stdin");
    let stdin = stdin.unwrap_or_default().to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut { input }, &stdin));
    let output = child.wait_with_output().expect("the command ends");
    let _ = writer.join();
    output
}

fn succeeded(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_plan_for_each_pair_of_store_kinds_is_golden_and_its_tool_runs_it() {
    let Some([moto, ..]) = require(["moto_server", "s5cmd", "rsync"]) else { return };
    let temp = tempfile::tempdir().expect("temp dir");
    let s3 = S3::start(&moto, temp.path());
    let plans = Plans { inventory: temp.path().join("inventory"), s3, temp };
    let root = plans.root().display().to_string();
    let stores = [
        format!("dir_a=primary,{root}/dir_a,https://a.example/v1"),
        format!("dir_b=mirror,{root}/dir_b,https://b.example/v1"),
        format!("s3_a=mirror,s3://{BUCKET}/s3_a,https://s3a.example/v1"),
        format!("s3_b=mirror,s3://{BUCKET}/s3_b,https://s3b.example/v1"),
    ];
    let init: Vec<&str> = ["init"].into_iter().chain(stores.iter().flat_map(|s| ["--store", s.as_str()])).collect();
    plans.ok(&init, None);
    let mut ids: Vec<TileId> =
        KEYS.iter().map(|k| DEFAULT_YEARS.id(Tile::parse_key(k).expect("key")).expect("id")).collect();
    ids.sort();
    let tiles = write_tile_folders(&plans.root().join("dir_a"), DEFAULT_YEARS, &ids, 11).expect("tile folders");
    fs::create_dir_all(plans.root().join("dir_b")).expect("mkdir");
    write_registry_of(&plans.root().join("registry.parquet"), DEFAULT_YEARS, &tiles).expect("registry");
    plans.ok(&["import", &format!("{root}/registry.parquet")], None);
    plans.rescan("dir_a");
    succeeded("mb", &plans.s5cmd(&["mb", &format!("s3://{BUCKET}")], None));

    // Directory to S3, S3 to S3, S3 to directory: s5cmd lines, run by `s5cmd run`.
    for (source, target) in [("dir_a", "s3_a"), ("s3_a", "s3_b"), ("s3_b", "dir_b")] {
        assert_eq!(plans.missing(source, target), KEYS.len());
        let list = plans.plan(source, target, "s5cmd");
        succeeded("s5cmd run", &plans.s5cmd(&["run"], Some(&list)));
        plans.rescan(target);
        assert_eq!(plans.missing(source, target), 0, "{source} -> {target}");
    }

    // Directory to directory: an rsync --files-from list, then cp -a lines under xargs -P.
    let empty_dir_b = || {
        fs::remove_dir_all(plans.root().join("dir_b")).expect("rm");
        fs::create_dir_all(plans.root().join("dir_b")).expect("mkdir");
        plans.rescan("dir_b");
        assert_eq!(plans.missing("dir_a", "dir_b"), KEYS.len());
    };
    empty_dir_b();
    let list = plans.plan("dir_a", "dir_b", "rsync");
    let mut rsync = Command::new("rsync");
    rsync.args(["-a", "-r", "--files-from=-"]).arg(format!("{root}/dir_a/")).arg(format!("{root}/dir_b/"));
    succeeded("rsync", &run(rsync, Some(&list)));
    plans.rescan("dir_b");
    assert_eq!(plans.missing("dir_a", "dir_b"), 0);
    empty_dir_b();
    let list = plans.plan("dir_a", "dir_b", "cp");
    let mut xargs = Command::new("xargs");
    xargs.args(["-d", "\\n", "-n", "1", "-P", "4", "sh", "-c"]);
    succeeded("xargs cp", &run(xargs, Some(&list)));
    plans.rescan("dir_b");
    assert_eq!(plans.missing("dir_a", "dir_b"), 0);

    // tessera sync drives what the lists leave to the user: cp between directories, S3 to S3.
    empty_dir_b();
    plans.ok(&["sync", "dir_a", "dir_b", "--tool", "cp"], None);
    let gone = format!("s3://{BUCKET}/s3_b/2025/*");
    succeeded("s5cmd rm", &plans.s5cmd(&["rm", &gone], None));
    plans.rescan("s3_b");
    assert_eq!(plans.missing("s3_a", "s3_b"), 3);
    plans.ok(&["sync", "s3_a", "s3_b"], None);
    for (source, target) in [("dir_a", "dir_b"), ("s3_a", "s3_b")] {
        assert_eq!(plans.missing(source, target), 0);
        plans.rescan(target);
        assert_eq!(plans.missing(source, target), 0, "a fresh listing of {target} agrees");
    }
    let check = plans.tessera(&["check", "--strict"], None);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}
