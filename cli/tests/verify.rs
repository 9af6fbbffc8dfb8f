//! `tessera verify` re-hashes a local store against the registry, removes damaged tiles so the
//! next diff sends them again, and resumes an interrupted run.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, LargeStringArray, RecordBatch};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes six tiles into `primary` and `mirror` and a registry with their true hashes.
fn stores(root: &Path) -> Vec<String> {
    let (mut years, mut lons, mut lats, mut hashes, mut scales_hashes, mut sizes, mut scales_sizes) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut keys = Vec::new();
    for k in 0..6i32 {
        let (lon_i, lat_i) = (85 + 10 * k, 4995);
        let name = tessera_engine::grid::Cell::from_centi(lon_i, lat_i).expect("on the grid").name().to_string();
        let key = format!("2024/{name}");
        let (embeddings, scales) = (vec![k as u8; 500 + k as usize], vec![7u8 + k as u8; 50]);
        for store in ["primary", "mirror"] {
            let folder = root.join(store).join(&key);
            fs::create_dir_all(&folder).expect("mkdir");
            fs::write(folder.join(format!("{name}.npy")), &embeddings).expect("write");
            fs::write(folder.join(format!("{name}_scales.npy")), &scales).expect("write");
            let sums = format!("{}  {name}.npy\n{}  {name}_scales.npy\n", hex(&embeddings), hex(&scales));
            fs::write(folder.join("SHA256"), sums).expect("write");
        }
        years.push(2024i64);
        lons.push(lon_i);
        lats.push(lat_i);
        hashes.push(hex(&embeddings));
        scales_hashes.push(hex(&scales));
        sizes.push(embeddings.len() as i64);
        scales_sizes.push(scales.len() as i64);
        keys.push(key);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("year", Arc::new(Int64Array::from(years))),
        ("lon_i", Arc::new(Int32Array::from(lons))),
        ("lat_i", Arc::new(Int32Array::from(lats))),
        ("hash", Arc::new(LargeStringArray::from(hashes))),
        ("scales_hash", Arc::new(LargeStringArray::from(scales_hashes))),
        ("file_size", Arc::new(Int64Array::from(sizes))),
        ("scales_size", Arc::new(Int64Array::from(scales_sizes))),
    ];
    let batch = RecordBatch::try_from_iter(columns).expect("batch");
    let file = fs::File::create(root.join("registry.parquet")).expect("create");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    keys
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

#[test]
fn verify_removes_damaged_tiles_and_resumes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let keys = stores(root);
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
