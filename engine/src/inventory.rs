//! An inventory directory: the stores, their manifests and indexes, and the set operations
//! over them.
//!
//! ```text
//! inventory/
//!   tessera.toml            stores (name, role, public URL, storage URI) and the year range
//!   registry.parquet        the upstream registry: what should exist
//!   registry.tbm            its index (derived)
//!   stores/NAME.parquet     what store NAME holds, with the sizes seen
//!   stores/NAME.tbm         its index (derived)
//! ```
//!
//! [`Inventory::open`] maps every index and verifies it once; an index that is missing, stale,
//! truncated or corrupt is rebuilt from its parquet source on the spot and reported in
//! [`Inventory::notices`]. After that every query is a bitmap kernel over the maps.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bitmap::RoaringView;
use crate::bitmap::kernels;
use crate::bitmap::sink::{Clip, Count, Ranges, Sink};
use crate::error::{Error, Result};
use crate::grid::{Bbox, IdRange, TileId, Year, YearRange};
use crate::index::{self, Index, Mapped, SourceStamp};
use crate::{manifest, registry};

/// The config file's name inside an inventory.
pub const CONFIG_FILE: &str = "tessera.toml";
/// The registry's file name inside an inventory.
pub const REGISTRY_FILE: &str = "registry.parquet";

/// Whether a store is the source of truth for copies or a mirror of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Mirror,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Mirror => "mirror",
        }
    }
}

/// One `[[stores]]` entry of `tessera.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub name: String,
    pub role: Role,
    /// Base URL of the tile folders for downloads, e.g. `https://.../global_0.1_degree_representation`.
    pub public_url: String,
    /// Where copy commands read or write: a local path or `s3://bucket/prefix`.
    pub storage: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearsConfig {
    first: Year,
    last: Year,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    years: YearsConfig,
    #[serde(default)]
    stores: Vec<StoreConfig>,
}

/// The parsed `tessera.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub years: YearRange,
    /// In the order the file lists them; that order is the order of every report.
    pub stores: Vec<StoreConfig>,
}

impl Config {
    /// Parses and checks `text`: one primary, unique names made of `[A-Za-z0-9_.-]`.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let bad = |message: String| Error::Config { path: path.to_owned(), message };
        let raw: RawConfig = toml::from_str(text).map_err(|err| bad(err.to_string()))?;
        let years = YearRange::new(raw.years.first, raw.years.last).map_err(|err| bad(err.to_string()))?;
        let primaries = raw.stores.iter().filter(|s| s.role == Role::Primary).count();
        if !raw.stores.is_empty() && primaries != 1 {
            return Err(bad(format!("exactly one store must have role = \"primary\", found {primaries}")));
        }
        for (n, store) in raw.stores.iter().enumerate() {
            if !is_store_name(&store.name) {
                return Err(bad(format!("store name `{}` must be 1-64 of A-Z a-z 0-9 _ . -", store.name)));
            }
            if raw.stores[..n].iter().any(|other| other.name == store.name) {
                return Err(bad(format!("store `{}` is declared twice", store.name)));
            }
        }
        Ok(Config { years, stores: raw.stores })
    }

    /// The primary store, if any store is declared.
    pub fn primary(&self) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.role == Role::Primary)
    }
}

fn is_store_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// A bitmap of tile ids read in place from a mapped index file.
pub type TileSet = RoaringView<Mapped>;

/// A store: its config and the set of tiles it holds.
#[derive(Debug)]
pub struct Store {
    pub config: StoreConfig,
    pub tiles: TileSet,
    /// Whether the store has a manifest at all (a new store has none and holds nothing).
    pub has_manifest: bool,
}

/// Which tiles a query covers: some years, a bbox, or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only these years; empty means every year.
    pub years: Vec<Year>,
    pub bbox: Option<Bbox>,
}

impl Filter {
    /// The filter as sorted id ranges, or `None` when it lets every tile through.
    pub fn id_ranges(&self, grid: YearRange) -> Result<Option<Vec<IdRange>>> {
        let years: Vec<Year> = if self.years.is_empty() { grid.iter().collect() } else { self.years.clone() };
        match self.bbox {
            Some(bbox) => bbox.id_ranges(grid, &years).map(Some),
            None if self.years.is_empty() => Ok(None),
            None => {
                let mut ranges = Vec::new();
                let mut sorted = years;
                sorted.sort_unstable();
                sorted.dedup();
                for year in sorted {
                    crate::grid::push_merged(&mut ranges, grid.year_ids(year)?);
                }
                Ok(Some(ranges))
            }
        }
    }
}

/// An opened inventory directory.
#[derive(Debug)]
pub struct Inventory {
    dir: PathBuf,
    config: Config,
    registry: Option<TileSet>,
    stores: Vec<Store>,
    notices: Vec<String>,
}

impl Inventory {
    /// Opens the inventory in `dir`, rebuilding any index that is missing or out of date.
    pub fn open(dir: impl AsRef<Path>) -> Result<Inventory> {
        let dir = dir.as_ref().to_owned();
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.exists() {
            return Err(Error::NotAnInventory { path: dir });
        }
        let text = fs::read_to_string(&config_path).map_err(Error::io("reading", &config_path))?;
        let config = Config::parse(&text, &config_path)?;
        let mut notices = Vec::new();
        let registry_path = dir.join(REGISTRY_FILE);
        let registry = if registry_path.exists() {
            Some(open_or_rebuild(&registry_path, config.years, &mut notices, read_registry_ids)?.view)
        } else {
            notices.push(format!("{} has no {REGISTRY_FILE}: import one with `tessera import`", dir.display()));
            None
        };
        let mut stores = Vec::with_capacity(config.stores.len());
        for store in &config.stores {
            let path = manifest_path(&dir, &store.name);
            let has_manifest = path.exists();
            let tiles = if has_manifest {
                open_or_rebuild(&path, config.years, &mut notices, read_manifest_ids)?.view
            } else {
                notices.push(format!("store `{}` has no manifest yet: it holds no tiles", store.name));
                empty_set(&dir, config.years, &store.name)?
            };
            stores.push(Store { config: store.clone(), tiles, has_manifest });
        }
        Ok(Inventory { dir, config, registry, stores, notices })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn years(&self) -> YearRange {
        self.config.years
    }

    /// What opening had to do or found missing, one line each (rebuilt indexes, empty stores).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The registry's tiles: what should exist.
    pub fn registry(&self) -> Option<&TileSet> {
        self.registry.as_ref()
    }

    /// Every store, in config order.
    pub fn stores(&self) -> &[Store] {
        &self.stores
    }

    /// The store called `name`, or an error listing the stores there are.
    pub fn store(&self, name: &str) -> Result<&Store> {
        self.stores.iter().find(|s| s.config.name == name).ok_or_else(|| Error::UnknownStore {
            name: name.to_owned(),
            known: self.stores.iter().map(|s| s.config.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Tiles per year in `tiles`, for every year of the inventory.
    pub fn year_counts(&self, tiles: &TileSet) -> Vec<(Year, u64)> {
        self.years()
            .iter()
            .map(|year| {
                let range = self.years().year_ids(year).expect("years come from the inventory's own range");
                (year, kernels::and_ranges_count(tiles, &[range]))
            })
            .collect()
    }

    /// Tiles of `tiles` that pass `filter`.
    pub fn count(&self, tiles: &TileSet, filter: &Filter) -> Result<u64> {
        Ok(match filter.id_ranges(self.years())? {
            Some(ranges) => kernels::and_ranges_count(tiles, &ranges),
            None => tiles.cardinality(),
        })
    }

    /// Tiles in `source` but not in `target` that pass `filter`, as sorted id ranges.
    pub fn missing(&self, source: &str, target: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        let (source, target) = (self.store(source)?, self.store(target)?);
        Ok(self.andnot_into(&source.tiles, &target.tiles, filter, Ranges::default())?.0)
    }

    /// How many tiles `missing` would return.
    pub fn missing_count(&self, source: &str, target: &str, filter: &Filter) -> Result<u64> {
        let (source, target) = (self.store(source)?, self.store(target)?);
        Ok(self.andnot_into(&source.tiles, &target.tiles, filter, Count::default())?.0)
    }

    /// Tiles a store holds that the registry does not list, as sorted id ranges.
    pub fn extra(&self, store: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        let store = self.store(store)?;
        match &self.registry {
            Some(registry) => Ok(self.andnot_into(&store.tiles, registry, filter, Ranges::default())?.0),
            None => Ok(Vec::new()),
        }
    }

    /// Tiles both stores hold whose sizes differ (where both sides know them; the source's
    /// unknown sizes are taken from the registry): a partial or corrupt copy to send again.
    /// Reads both manifests, so it costs tens of milliseconds on a 3.8M-tile store.
    pub fn stale(&self, source: &str, target: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        let (source, target) = (self.store(source)?, self.store(target)?);
        let read = |store: &Store| -> Result<Vec<manifest::ManifestRow>> {
            let path = manifest_path(&self.dir, &store.config.name);
            Ok(if store.has_manifest { manifest::read_manifest(&path, self.years())?.0 } else { Vec::new() })
        };
        let (mut expected, held) = (read(source)?, read(target)?);
        self.fill_sizes_from_registry(&mut expected)?;
        let mut stale = Ranges::default();
        let mut next = 0;
        for row in &held {
            next += expected[next..].partition_point(|e| e.id < row.id);
            let Some(want) = expected.get(next).filter(|e| e.id == row.id) else { continue };
            let differs = |a: Option<u64>, b: Option<u64>| matches!((a, b), (Some(a), Some(b)) if a != b);
            if differs(want.file_size, row.file_size) || differs(want.scales_size, row.scales_size) {
                stale.range(row.id.0, row.id.0);
            }
        }
        Ok(match filter.id_ranges(self.years())? {
            Some(ranges) => {
                let mut clip = Clip::new(&ranges, Ranges::default());
                stale.0.iter().for_each(|r| clip.range(r.lo, r.hi));
                clip.into_inner().0
            }
            None => stale.0,
        })
    }

    /// Gives rows with unknown sizes the registry's sizes, when there is a registry.
    fn fill_sizes_from_registry(&self, rows: &mut [manifest::ManifestRow]) -> Result<()> {
        let path = self.dir.join(REGISTRY_FILE);
        if !rows.iter().any(|r| r.file_size.is_none() || r.scales_size.is_none()) || !path.exists() {
            return Ok(());
        }
        let (registry, _) = registry::read_registry(&path, self.years(), registry::ReadOptions::default())?;
        for row in rows {
            let Ok(at) = registry.ids.binary_search(&row.id) else { continue };
            row.file_size = row.file_size.or(registry.file_size.as_ref().map(|sizes| sizes[at]));
            row.scales_size = row.scales_size.or(registry.scales_size.as_ref().map(|sizes| sizes[at]));
        }
        Ok(())
    }

    fn andnot_into<S: Sink>(&self, a: &TileSet, b: &TileSet, filter: &Filter, mut sink: S) -> Result<S> {
        match filter.id_ranges(self.years())? {
            Some(ranges) => {
                let mut clip = Clip::new(&ranges, sink);
                kernels::andnot(a, b, &mut clip);
                Ok(clip.into_inner())
            }
            None => {
                kernels::andnot(a, b, &mut sink);
                Ok(sink)
            }
        }
    }
}

/// Replaces store `store`'s manifest in the inventory at `dir` with `rows`, and its index with
/// one built from them, both atomically: a crash leaves the old pair or the new manifest with
/// an index that the next open sees is stale and rebuilds.
pub fn write_store(dir: &Path, years: YearRange, store: &str, rows: &[manifest::ManifestRow]) -> Result<()> {
    let path = manifest_path(dir, store);
    fs::create_dir_all(dir.join("stores")).map_err(Error::io("creating", dir.join("stores")))?;
    manifest::write_manifest(&path, years, rows)?;
    let stamp = SourceStamp::of(&path)?;
    let mut ids: Vec<TileId> = rows.iter().map(|row| row.id).collect();
    ids.sort_unstable();
    ids.dedup();
    index::write(&index_path(&path), &index::encode(years, ids, stamp)?)
}

/// `stores/NAME.parquet` inside `dir`.
pub fn manifest_path(dir: &Path, store: &str) -> PathBuf {
    dir.join("stores").join(format!("{store}.parquet"))
}

/// The index file beside a parquet source: `x.parquet` -> `x.tbm`.
pub fn index_path(source: &Path) -> PathBuf {
    source.with_extension("tbm")
}

/// Ids of a parquet source, with the reader's warnings (duplicates, absent columns).
type IdsAndWarnings = (Vec<TileId>, Vec<String>);

fn read_registry_ids(path: &Path, years: YearRange) -> Result<IdsAndWarnings> {
    let (ids, report) = registry::read_registry_ids(path, years)?;
    Ok((ids, report.warnings()))
}

fn read_manifest_ids(path: &Path, years: YearRange) -> Result<IdsAndWarnings> {
    let (ids, report) = manifest::read_manifest_ids(path, years)?;
    Ok((ids, report.warnings()))
}

/// Opens the index of `source`; if it cannot be used, rebuilds it from `source` and says why.
/// The reader's warnings are shown whenever the index is built, so they are not lost.
fn open_or_rebuild(
    source: &Path,
    years: YearRange,
    notices: &mut Vec<String>,
    read_ids: fn(&Path, YearRange) -> Result<IdsAndWarnings>,
) -> Result<Index> {
    let path = index_path(source);
    let stamp = SourceStamp::of(source)?;
    let problem = match index::open(&path, years, Some(stamp)) {
        Ok(index) => return Ok(index),
        Err(err) => err,
    };
    if path.exists() {
        notices.push(format!("rebuilt {}: {}", path.display(), reason_of(&problem)));
    }
    let (ids, warnings) = read_ids(source, years)?;
    notices.extend(warnings);
    index::write(&path, &index::encode(years, ids, stamp)?)?;
    index::open(&path, years, Some(stamp))
}

fn reason_of(err: &Error) -> String {
    match err {
        Error::BadIndex { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// An empty set for a store without a manifest, held in memory-mapped form like the others.
fn empty_set(dir: &Path, years: YearRange, store: &str) -> Result<TileSet> {
    let path = dir.join("stores").join(format!(".{store}.empty.tbm"));
    fs::create_dir_all(dir.join("stores")).map_err(Error::io("creating", dir.join("stores")))?;
    if let Ok(index) = index::open(&path, years, Some(SourceStamp::NONE)) {
        return Ok(index.view);
    }
    index::write(&path, &index::encode(years, [], SourceStamp::NONE)?)?;
    Ok(index::open(&path, years, Some(SourceStamp::NONE))?.view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_needs_exactly_one_primary_and_unique_names() {
        let path = Path::new("tessera.toml");
        let store = |name: &str, role: &str| {
            format!("[[stores]]\nname = \"{name}\"\nrole = \"{role}\"\npublic_url = \"u\"\nstorage = \"s\"\n")
        };
        let years = "years = { first = 2017, last = 2025 }\n";
        let ok = format!("{years}{}{}", store("a", "primary"), store("b", "mirror"));
        assert_eq!(Config::parse(&ok, path).unwrap().primary().unwrap().name, "a");
        let two = format!("{years}{}{}", store("a", "primary"), store("b", "primary"));
        assert!(Config::parse(&two, path).unwrap_err().to_string().contains("exactly one"));
        let twice = format!("{years}{}{}", store("a", "primary"), store("a", "mirror"));
        assert!(Config::parse(&twice, path).unwrap_err().to_string().contains("twice"));
        let slash = format!("{years}{}", store("../x", "primary"));
        assert!(Config::parse(&slash, path).unwrap_err().to_string().contains("store name"));
    }
}
