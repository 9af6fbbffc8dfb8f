//! Tile folders of small real files, and a registry listing their true sizes and SHA-256s:
//! what `verify` checks a store against.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, LargeStringArray, RecordBatch};
use sha2::{Digest, Sha256};

/// One tile: where it is and the bytes of its two files.
pub struct Tile {
    pub year: u16,
    pub lon_i: i32,
    pub lat_i: i32,
    pub embeddings: Vec<u8>,
    pub scales: Vec<u8>,
}

impl Tile {
    /// `grid_0.85_49.95`.
    pub fn name(&self) -> String {
        tessera_engine::grid::Cell::from_centi(self.lon_i, self.lat_i).expect("on the grid").name().to_string()
    }

    /// `2024/grid_0.85_49.95`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.year, self.name())
    }

    /// Writes the tile's folder under `root`: its two `.npy` files and their `SHA256` lines.
    pub fn write_folder(&self, root: &Path) {
        let (name, folder) = (self.name(), root.join(self.key()));
        fs::create_dir_all(&folder).expect("mkdir");
        fs::write(folder.join(format!("{name}.npy")), &self.embeddings).expect("write");
        fs::write(folder.join(format!("{name}_scales.npy")), &self.scales).expect("write");
        let sums = format!("{}  {name}.npy\n{}  {name}_scales.npy\n", hex(&self.embeddings), hex(&self.scales));
        fs::write(folder.join("SHA256"), sums).expect("write");
    }
}

/// The SHA-256 of `bytes` in lowercase hex, as the registry writes it.
pub fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a registry of `tiles` to `path`, with their true sizes and hashes.
pub fn write_registry(path: &Path, tiles: &[Tile]) {
    let column = |values: Vec<i64>| -> ArrayRef { Arc::new(Int64Array::from(values)) };
    let hashes = |file: fn(&Tile) -> &[u8]| -> ArrayRef {
        Arc::new(LargeStringArray::from(tiles.iter().map(|tile| hex(file(tile))).collect::<Vec<_>>()))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("year", column(tiles.iter().map(|tile| i64::from(tile.year)).collect())),
        ("lon_i", Arc::new(Int32Array::from(tiles.iter().map(|tile| tile.lon_i).collect::<Vec<_>>()))),
        ("lat_i", Arc::new(Int32Array::from(tiles.iter().map(|tile| tile.lat_i).collect::<Vec<_>>()))),
        ("hash", hashes(|tile| &tile.embeddings)),
        ("scales_hash", hashes(|tile| &tile.scales)),
        ("file_size", column(tiles.iter().map(|tile| tile.embeddings.len() as i64).collect())),
        ("scales_size", column(tiles.iter().map(|tile| tile.scales.len() as i64).collect())),
    ];
    let batch = RecordBatch::try_from_iter(columns).expect("batch");
    let file = fs::File::create(path).expect("create");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}
