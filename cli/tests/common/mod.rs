//! Helpers shared by the CLI test files: the real binary, a fresh small demo inventory.

// Each test file uses some of these helpers, not all.
#![allow(dead_code)]

pub mod faults;
pub mod http;
pub mod tiles;
pub mod tools;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Starts `tessera --inventory DIR ARGS...` with a piped stdin.
pub fn spawn(inventory: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--inventory")
        .arg(inventory)
        .args(args)
        .env_remove("TESSERA_INVENTORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tessera binary runs")
}

/// Runs `tessera --inventory DIR ARGS...` with `stdin` as its input, to the end.
pub fn run(inventory: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn(inventory, args);
    // A command that fails before reading its input closes it: its exit status says why.
    if let Err(err) = child.stdin.take().expect("stdin").write_all(stdin) {
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "writing tessera's stdin");
    }
    child.wait_with_output().expect("tessera finishes")
}

/// Runs `tessera --inventory DIR ARGS...` to the end with `PATH` set to `path`.
pub fn spawn_with_path(inventory: &Path, args: &[&str], path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--inventory")
        .arg(inventory)
        .args(args)
        .env_remove("TESSERA_INVENTORY")
        .env("PATH", path)
        .output()
        .expect("the tessera binary runs")
}

/// A fresh small demo inventory in a temporary directory (kept alive by the `TempDir`).
pub fn demo() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("demo");
    let init = Command::new(env!("CARGO_BIN_EXE_tessera")).args(["init", "--small", "--demo"]).arg(&dir).output();
    let init = init.expect("init runs");
    assert!(init.status.success(), "init failed: {}", String::from_utf8_lossy(&init.stderr));
    (temp, dir)
}

/// The keys `tessera diff okavango TARGET` prints.
pub fn missing(dir: &Path, target: &str) -> Vec<String> {
    let output = run(dir, &["diff", "okavango", target], b"");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").lines().map(str::to_owned).collect()
}
