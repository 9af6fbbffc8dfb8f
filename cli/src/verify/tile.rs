//! What a tile's files must hash to, and how a file that does not is described.

use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::registry::{self, RegistryTiles};

/// The files of one tile a verify hashes, with what they must hash to.
#[derive(Debug)]
pub struct TileFiles {
    /// `2024/grid_0.15_49.95`, relative to the store's root.
    pub folder: String,
    /// Each data file's name and its SHA-256 in the registry, if the registry has one.
    pub files: [(String, Option<[u8; 32]>); 2],
}

impl TileFiles {
    /// The files of tile `id`, or `None` when the registry does not hold it.
    pub fn of(id: TileId, years: YearRange, registry: &RegistryTiles) -> Option<TileFiles> {
        let tile = years.tile(id).ok()?;
        let at = registry.ids.binary_search(&id).ok()?;
        let name = tile.cell.name().to_string();
        Some(TileFiles {
            folder: format!("{}/{name}", tile.year),
            files: [
                (format!("{name}.npy"), registry.hash.as_ref().map(|hashes| hashes[at])),
                (format!("{name}_scales.npy"), registry.scales_hash.as_ref().map(|hashes| hashes[at])),
            ],
        })
    }
}

/// What is wrong with `file`, hashed to `actual`, given the registry's hash and the tile's
/// `SHA256` file (`listed`, empty when the tile has none).
pub fn judge(file: &str, actual: [u8; 32], registry_hash: Option<[u8; 32]>, listed: &str) -> Option<String> {
    if registry_hash.is_some_and(|hash| hash != actual) {
        return Some(format!("{file}: sha256 differs from the registry's"));
    }
    let in_listing = listed.lines().find(|line| line.split_whitespace().nth(1) == Some(file));
    let listed_hash = in_listing.and_then(|line| line.split_whitespace().next()).and_then(registry::parse_sha256);
    if listed_hash.is_some_and(|hash| hash != actual) {
        return Some(format!("{file}: sha256 differs from the tile's SHA256 file"));
    }
    None
}
