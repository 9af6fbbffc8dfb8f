//! `tessera verify` re-hashes a local store against the registry, removes damaged tiles so the
//! next diff sends them again, and resumes an interrupted run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::tiles::{Tile, write_registry};

/// Writes six tiles into `primary` and `mirror` and a registry with their true hashes.
fn stores(root: &Path) -> Vec<String> {
    let tiles: Vec<Tile> = (0..6u8)
        .map(|k| Tile {
            year: 2024,
            lon_i: 85 + 10 * i32::from(k),
            lat_i: 4995,
            embeddings: vec![k; 500 + usize::from(k)],
            scales: vec![7 + k; 50],
        })
        .collect();
    for tile in &tiles {
        tile.write_folder(&root.join("primary"));
        tile.write_folder(&root.join("mirror"));
    }
    write_registry(&root.join("registry.parquet"), &tiles);
    tiles.iter().map(Tile::key).collect()
}

fn sh(script: &str, inventory: &Path) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("TESSERA", env!("CARGO_BIN_EXE_tessera"))
        .env("TESSERA_INVENTORY", inventory)
        .output()
        .expect("sh runs")
}

/// An inventory in `root/inventory` of the two stores, both scanned whole.
fn scanned_inventory(root: &Path) -> PathBuf {
    let inventory = root.join("inventory");
    let init = format!(
        "\"$TESSERA\" init --store okavango=primary,{p},https://p --store mirror=mirror,{m},https://m && \
         \"$TESSERA\" import {r} && \
         find {p} -type f -printf '%s %p\\n' | \"$TESSERA\" scan okavango --strict && \
         find {m} -type f -printf '%s %p\\n' | \"$TESSERA\" scan mirror --strict",
        p = root.join("primary").display(),
        m = root.join("mirror").display(),
        r = root.join("registry.parquet").display()
    );
    let setup = sh(&init, &inventory);
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    inventory
}

#[test]
fn verify_removes_damaged_tiles_and_resumes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let keys = stores(root);
    let inventory = scanned_inventory(root);

    // Same size, different bytes: only a hash can tell.
    let damaged = &keys[4];
    let name = damaged.split('/').nth(1).expect("a name");
    let file = root.join("mirror").join(damaged).join(format!("{name}.npy"));
    let mut bytes = fs::read(&file).expect("read");
    bytes[10] ^= 0xff;
    fs::write(&file, bytes).expect("write");

    // An interrupted run left a cursor after the second tile: only the rest are hashed.
    let tile_ids: Vec<u32> = keys
        .iter()
        .map(|k| tessera_engine::grid::DEFAULT_YEARS.id(tessera_engine::grid::Tile::parse_key(k).unwrap()).unwrap().0)
        .collect();
    fs::write(inventory.join("stores/mirror.verify"), tile_ids[1].to_string()).expect("cursor");
    let verify = common::run(&inventory, &["verify", "mirror", "--threads", "2"], b"");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{said}");
    assert!(said.contains("verified 4 tiles of mirror: 1 damaged"), "{said}");
    assert!(said.contains(&format!("damaged: {damaged} ({name}.npy: sha256 differs from the registry's)")), "{said}");
    assert!(!inventory.join("stores/mirror.verify").exists(), "a finished run removes its cursor");
    assert_eq!(common::missing(&inventory, "mirror"), std::slice::from_ref(damaged));

    let again = common::run(&inventory, &["verify", "mirror", "--restart"], b"");
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("verified 5 tiles of mirror: 0 damaged"));
}

/// A file that cannot be read for another reason than not being there (an I/O error, a
/// permission, here a symlink loop) stops the run with an error naming it: it says nothing of
/// the tile's bytes, so the tile is not removed. A file that is not there is damage.
#[test]
fn verify_stops_on_a_file_it_cannot_read_and_removes_only_what_is_damaged() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let keys = stores(root);
    let inventory = scanned_inventory(root);
    let file_of = |key: &str| {
        let name = key.split('/').nth(1).expect("a name");
        root.join("mirror").join(key).join(format!("{name}.npy"))
    };
    let (unreadable, gone) = (file_of(&keys[2]), file_of(&keys[4]));
    let bytes = fs::read(&unreadable).expect("read");
    fs::remove_file(&unreadable).expect("remove");
    std::os::unix::fs::symlink(&unreadable, &unreadable).expect("a symlink to itself");
    fs::remove_file(&gone).expect("remove");

    let verify = common::run(&inventory, &["verify", "mirror", "--threads", "2"], b"");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("cannot read {}", unreadable.display())), "{said}");
    assert!(common::missing(&inventory, "mirror").is_empty(), "nothing removed: {said}");

    fs::remove_file(&unreadable).expect("remove the loop");
    fs::write(&unreadable, bytes).expect("restore");
    let verify = common::run(&inventory, &["verify", "mirror"], b"");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{said}");
    let name = keys[4].split('/').nth(1).expect("a name");
    assert!(said.contains(&format!("damaged: {} ({name}.npy: no such file)", keys[4])), "{said}");
    assert_eq!(common::missing(&inventory, "mirror"), std::slice::from_ref(&keys[4]));
}

/// `verify --dry-run` plans from the inventory alone: a store whose directory is not on this
/// machine (a mount on another host, a disk not attached yet) still gets its plan, and nothing
/// is read or changed. A real run there is refused, naming the directory.
#[test]
fn a_dry_run_plans_a_store_whose_directory_is_not_here() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    stores(root);
    let inventory = scanned_inventory(root);
    fs::rename(root.join("mirror"), root.join("elsewhere")).expect("unmount the mirror");

    let plan = common::run(&inventory, &["verify", "mirror", "--dry-run"], b"");
    let (out, err) = (String::from_utf8_lossy(&plan.stdout), String::from_utf8_lossy(&plan.stderr));
    assert_eq!(plan.status.code(), Some(0), "{err}");
    assert!(out.contains("verify mirror: 6 tiles (12 files)"), "{out}");
    assert!(common::missing(&inventory, "mirror").is_empty(), "a plan changes nothing");

    let refused = common::run(&inventory, &["verify", "mirror"], b"");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{} is not a directory", root.join("mirror").display())), "{err}");
}
