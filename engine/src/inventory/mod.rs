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
//!   stores/NAME.delta       its differences from the registry (derived from the two indexes)
//! ```
//!
//! [`Inventory::open`] maps every index and verifies it once; an index that is missing, stale,
//! truncated or corrupt is rebuilt from its parquet source on the spot and reported in
//! [`Inventory::notices`]. After that every query is a bitmap kernel over the maps, and a diff
//! between two near copies of the registry one over their deltas (`delta`).

mod config;
mod delta;
mod import;
mod open;
mod secret;
mod status;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::bitmap::RoaringView;
use crate::bitmap::kernels;
use crate::bitmap::sink::{Clip, Count, Ranges, Sink};
use crate::error::{Error, Result};
use crate::grid::{Bbox, IdRange, TileId, Year, YearRange};
use crate::index::{Mapped, SourceStamp};
use crate::notice::Notice;
use crate::registry;
use crate::store::StoreFiles;
use crate::store::{self, journal, manifest};

pub use config::{Config, MapConfig, Role, StoreConfig};
use delta::{Basis, Delta, Identity, Writing};
pub use import::{Imported, import_registry};
use open::{empty_set, open_or_rebuild, read_registry_ids};
pub use secret::{SECRET_FILE, ensure_secret, parse_secret, read_secret};
pub use status::{Counts, Missing, Status, StoreStatus};
pub use write::{COMPACT_AFTER_ROWS, Recorded, repair_journal};

/// The config file's name inside an inventory.
pub const CONFIG_FILE: &str = "tessera.toml";
/// The registry's file name inside an inventory.
pub const REGISTRY_FILE: &str = "registry.parquet";
/// Held by `import` while it replaces the registry.
const REGISTRY_LOCK: &str = "registry.lock";
/// The name of the registry wherever a store name is taken as a source (`tessera diff registry
/// okavango`): what should exist. No store may be called this.
pub const REGISTRY: &str = "registry";

/// A bitmap of tile ids read in place from a mapped index file.
pub type TileSet = RoaringView<Mapped>;

/// A store: its config and the set of tiles it holds.
#[derive(Debug)]
pub struct Store {
    /// The store's `[[stores]]` entry in `tessera.toml`.
    pub config: StoreConfig,
    /// Ids of the tiles the store holds, read in place from its index; empty when it has neither
    /// manifest nor journal.
    pub tiles: TileSet,
    /// Whether the store has a manifest or a journal (a new store has neither and holds nothing).
    pub has_manifest: bool,
    /// The manifest and journal `tiles` was built from.
    stamp: SourceStamp,
    /// The checksum of the index `tiles` is read from.
    checksum: u64,
    /// Its differences from the registry, when it is a near copy and there is a registry.
    delta: Option<Delta>,
}

/// Which tiles a query covers: some years, a bbox, or both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Only these years; empty means every year.
    pub years: Vec<Year>,
    /// Only tiles whose footprint overlaps this box; `None` means anywhere.
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
    /// The registry index's checksum (0 without a registry).
    registry_checksum: u64,
    stores: Vec<Store>,
    notices: Vec<Notice>,
    /// Whether opening and reading may write derived files (indexes, details).
    writes: bool,
    /// The source files as they were when opening began.
    opened_from: ChangeStamp,
}

/// The identity (length, modification time) of every file an inventory is opened from: the
/// config, the registry, and each store's manifest and journal. A few `stat` calls; equal
/// stamps mean nothing a reader sees has changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStamp(Vec<Option<SourceStamp>>);

impl ChangeStamp {
    /// The stamp of the inventory in `dir` as its files are now (a missing file is `None`).
    pub fn of(dir: impl AsRef<Path>) -> ChangeStamp {
        ChangeStamp::with_config(dir.as_ref()).0
    }

    /// The stamp, and the config read to find the stores (loaded once the config file is
    /// stamped, so that opening parses it once and a later edit shows as a change).
    fn with_config(dir: &Path) -> (ChangeStamp, Result<Config>) {
        let stamp = |path: PathBuf| SourceStamp::of(&path).ok();
        let mut stamps = vec![stamp(dir.join(CONFIG_FILE)), stamp(dir.join(REGISTRY_FILE))];
        let config = Config::load(dir);
        if let Ok(config) = &config {
            stamps.extend(config.stores.iter().map(|store| StoreFiles::new(dir, &store.name).stamp().ok()));
        }
        (ChangeStamp(stamps), config)
    }
}

impl Inventory {
    /// Opens the inventory in `dir`, rebuilding any index that is missing or out of date.
    pub fn open(dir: impl AsRef<Path>) -> Result<Inventory> {
        Inventory::open_as(dir.as_ref(), true)
    }

    /// Opens the inventory in `dir` without writing anything to it, for a reader on a
    /// read-only mount (`tessera serve`): an index or details table that is missing or out of
    /// date is built in memory instead, and said so in the notices.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Inventory> {
        Inventory::open_as(dir.as_ref(), false)
    }

    fn open_as(dir: &Path, writes: bool) -> Result<Inventory> {
        // Taken first: a change made while opening shows as a change afterwards.
        let (opened_from, config) = ChangeStamp::with_config(dir);
        let config = config?;
        let dir = dir.to_owned();
        let mut notices = Vec::new();
        let registry_path = dir.join(REGISTRY_FILE);
        let (registry, registry_checksum) = if registry_path.exists() {
            let stamp = || SourceStamp::of(&registry_path);
            let read = || read_registry_ids(&registry_path, config.years);
            let lock = dir.join(REGISTRY_LOCK);
            let index_file = index_path(&registry_path);
            let lock = writes.then_some(lock.as_path());
            let (index, _) = open_or_rebuild(&index_file, lock, config.years, &mut notices, stamp, read)?;
            (Some(index.view), index.checksum)
        } else {
            notices.push(Notice::NoRegistry { path: registry_path.clone() });
            (None, 0)
        };
        let mut stores = Vec::with_capacity(config.stores.len());
        for store in &config.stores {
            let files = StoreFiles::new(&dir, &store.name);
            let has_manifest = files.manifest.exists() || files.journal.exists();
            let lock = files.lock_path();
            let (tiles, stamp, checksum) = if has_manifest {
                let read = || files.read_ids(config.years);
                let (index, stamp) = open_or_rebuild(
                    &files.index(),
                    writes.then_some(lock.as_path()),
                    config.years,
                    &mut notices,
                    || files.stamp(),
                    read,
                )?;
                (index.view, stamp, index.checksum)
            } else {
                notices.push(Notice::NoManifest { store: store.name.clone() });
                (empty_set(config.years)?, SourceStamp::NONE, 0)
            };
            let mut opened = Store { config: store.clone(), tiles, has_manifest, stamp, checksum, delta: None };
            if has_manifest && let Some(registry) = &registry {
                let writing = if writes { Writing::IfUnlocked(&lock) } else { Writing::Never };
                opened.delta = opened.delta_from(&files, writing, registry, registry_checksum);
            }
            stores.push(opened);
        }
        Ok(Inventory { dir, config, registry, registry_checksum, stores, notices, writes, opened_from })
    }

    /// Whether the files this inventory was opened from have changed since (a writer recorded,
    /// scanned or imported): a long-lived reader then opens it again. A few `stat` calls.
    pub fn changed(&self) -> bool {
        ChangeStamp::of(&self.dir) != self.opened_from
    }

    /// The inventory directory, as given when opening.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `tessera.toml`.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The inclusive range of years the inventory covers, from its config.
    pub fn years(&self) -> YearRange {
        self.config.years
    }

    /// What opening had to do or found missing, one line each (rebuilt indexes, empty stores).
    pub fn notices(&self) -> &[Notice] {
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
        // One store per `[[stores]]` entry, in config order.
        Ok(&self.stores[self.config.store_position(name)?])
    }

    /// The tiles of `name`: a store's, or the registry's when `name` is [`REGISTRY`].
    pub fn tiles(&self, name: &str) -> Result<&TileSet> {
        if name == REGISTRY {
            return self.registry.as_ref().ok_or_else(|| Error::NoRegistry { path: self.dir.clone() });
        }
        Ok(&self.store(name)?.tiles)
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

    /// The tiles of `name` (a store or [`REGISTRY`]) that pass `filter`, as sorted id ranges.
    pub fn select(&self, name: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        let tiles = self.tiles(name)?;
        let mut ranges = Ranges::default();
        match filter.id_ranges(self.years())? {
            Some(wanted) => kernels::and_ranges(tiles, &wanted, &mut ranges),
            None => tiles.for_each_range(|lo, hi| ranges.range(lo, hi)),
        }
        Ok(ranges.0)
    }

    /// Tiles in `source` but not in `target` that pass `filter`, as sorted id ranges. Either
    /// name may be [`REGISTRY`]: `missing("registry", "okavango", ..)` is what should exist and
    /// the primary lacks.
    pub fn missing(&self, source: &str, target: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        Ok(self.andnot_into(source, target, filter, Ranges::default())?.0)
    }

    /// How many tiles `missing` would return.
    pub fn missing_count(&self, source: &str, target: &str, filter: &Filter) -> Result<u64> {
        Ok(self.andnot_into(source, target, filter, Count::default())?.0)
    }

    /// The cells of `year` that `source` holds, or, with a `target`, that `source` holds and
    /// `target` lacks: sorted ranges of cell indexes (`row * 3600 + col`, the id less the
    /// year's first id). This is the coverage the map draws; [`crate::bitmap::encode_ranges`]
    /// makes it a portable Roaring bitmap. Either name may be [`REGISTRY`].
    pub fn coverage(&self, source: &str, target: Option<&str>, year: Year) -> Result<Vec<IdRange>> {
        let year_ids = self.years().year_ids(year)?;
        let ids = match target {
            None => {
                let mut ranges = Ranges::default();
                kernels::and_ranges(self.tiles(source)?, &[year_ids], &mut ranges);
                ranges
            }
            Some(target) => {
                let filter = Filter { years: vec![year], bbox: None };
                self.andnot_into(source, target, &filter, Ranges::default())?
            }
        };
        Ok(ids.0.into_iter().map(|r| IdRange { lo: r.lo - year_ids.lo, hi: r.hi - year_ids.lo }).collect())
    }

    /// How many tiles a store holds that the registry does not list and that pass `filter`;
    /// `None` without a registry to compare with.
    pub fn extra_count(&self, store: &str, filter: &Filter) -> Result<Option<u64>> {
        self.store(store)?; // a store's name, not the registry's
        if self.registry.is_none() {
            return Ok(None);
        }
        Ok(Some(self.andnot_into(store, REGISTRY, filter, Count::default())?.0))
    }

    /// The journal and the manifest's provenance of `store`: when it was last listed, and how
    /// many records apply over that listing.
    pub fn store_state(&self, store: &str) -> Result<store::State> {
        StoreFiles::new(&self.dir, &self.store(store)?.config.name).state()
    }

    /// Where `store`'s journal ends now: what a scan takes before it reads its listing, for
    /// [`store::Listing::started_after`].
    pub fn journal_end(&self, store: &str) -> Result<store::journal::Position> {
        StoreFiles::new(&self.dir, &self.store(store)?.config.name).journal_end()
    }

    /// Tiles both stores hold whose sizes differ (where both sides know them; the source's
    /// unknown sizes are taken from the registry): a partial or corrupt copy to send again.
    /// Reads both manifests, so it costs tens of milliseconds on a 3.8M-tile store. `source`
    /// may be [`REGISTRY`]: tiles whose sizes differ from the registry's.
    pub fn stale(&self, source: &str, target: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        self.store(target)?;
        let (mut expected, held) = (self.rows(source)?, self.rows(target)?);
        if source != REGISTRY {
            self.fill_sizes_from_registry(&mut expected)?;
        }
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

    /// Every tile `name` holds with the sizes seen, sorted by id: a store's manifest and journal
    /// together, or the registry's tiles and sizes when `name` is [`REGISTRY`]. Reads parquet:
    /// tens of milliseconds for 3.8M tiles.
    pub fn rows(&self, name: &str) -> Result<Vec<manifest::ManifestRow>> {
        if name != REGISTRY {
            return StoreFiles::new(&self.dir, &self.store(name)?.config.name).read_rows(self.years());
        }
        self.tiles(REGISTRY)?;
        let path = self.dir.join(REGISTRY_FILE);
        let (registry, _) = registry::read_registry(&path, self.years(), registry::ReadOptions::default())?;
        let size = |sizes: &Option<Vec<u64>>, at: usize| sizes.as_ref().map(|sizes| sizes[at]);
        Ok((registry.ids.iter().enumerate())
            .map(|(at, &id)| manifest::ManifestRow {
                id,
                file_size: size(&registry.file_size, at),
                scales_size: size(&registry.scales_size, at),
            })
            .collect())
    }

    /// The registry's tiles with their sizes, and their hashes with `options.hashes` (about a
    /// second for 3.8M tiles: for a whole pass, not a lookup, where [`Inventory::registry_details`]
    /// serves), or `None` when the inventory has no registry.
    pub fn registry_tiles(&self, options: registry::ReadOptions) -> Result<Option<registry::RegistryTiles>> {
        let path = self.registry_path();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(registry::read_registry(&path, self.years(), options)?.0))
    }

    /// The checksums `tessera hash` recorded for `store`'s files; empty when it was never
    /// hashed.
    pub fn checksums(&self, store: &str) -> Result<crate::checksums::Checksums> {
        let name = &self.store(store)?.config.name;
        crate::checksums::Checksums::open(&StoreFiles::new(&self.dir, name).checksums(), self.years())
    }

    /// Where the inventory's registry is (or would be), for messages.
    pub fn registry_path(&self) -> PathBuf {
        self.dir.join(REGISTRY_FILE)
    }

    /// The registry's per-tile sizes and hashes, memory-mapped, with a notice when they had to
    /// be built first (a few seconds for 3.8M tiles, once per registry). Row `n` is the
    /// registry's tile at [`RoaringView::position`] `n`.
    pub fn registry_details(&self) -> Result<(crate::details::Details, Option<Notice>)> {
        let tiles = self.tiles(REGISTRY)?.cardinality();
        crate::details::open_or_build_as(&self.dir.join(REGISTRY_FILE), self.years(), tiles, self.writes)
    }

    /// How many tiles of `name` (a store or [`REGISTRY`]) have a zero `file_size` or
    /// `scales_size`: broken files. Usually answered from the parquet footer's statistics
    /// (well under a millisecond); the sizes are read only when the statistics allow a zero.
    pub fn zero_size_count(&self, name: &str) -> Result<u64> {
        let zero = |row: &manifest::ManifestRow| row.file_size == Some(0) || row.scales_size == Some(0);
        let parquet = if name == REGISTRY {
            self.tiles(REGISTRY)?;
            self.dir.join(REGISTRY_FILE)
        } else {
            manifest_path(&self.dir, &self.store(name)?.config.name)
        };
        if parquet.exists() && !manifest::sizes_known_positive(&parquet)? {
            return Ok(self.rows(name)?.iter().filter(|row| zero(row)).count() as u64);
        }
        if name == REGISTRY {
            return Ok(0);
        }
        let state = StoreFiles::new(&self.dir, name).state()?;
        let mut latest = BTreeMap::new();
        for entry in state.pending() {
            latest.insert(entry.id(), *entry);
        }
        let zero_entry = |entry: &journal::Entry| matches!(entry, journal::Entry::Present(row) if zero(row));
        Ok(latest.values().filter(|entry| zero_entry(entry)).count() as u64)
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

    /// Tiles of `source` not in `target` (a store or [`REGISTRY`] each) that pass `filter`:
    /// from the two sides' deltas when both have one, from their indexes otherwise.
    fn andnot_into<S: Sink>(&self, source: &str, target: &str, filter: &Filter, sink: S) -> Result<S> {
        let (a, b) = (self.tiles(source)?, self.tiles(target)?);
        let ranges = filter.id_ranges(self.years())?;
        Ok(match (self.delta(source), self.delta(target)) {
            (Some(a), Some(b)) => delta::andnot(a, b, ranges.as_deref(), sink),
            _ => andnot_filtered(a, b, ranges.as_deref(), sink),
        })
    }

    /// The differences of `name` (a store or [`REGISTRY`]) from the registry, when known.
    fn delta(&self, name: &str) -> Option<&Delta> {
        if name == REGISTRY {
            return self.registry.as_ref().map(|_| &*delta::REGISTRY_DELTA);
        }
        self.store(name).ok()?.delta.as_ref()
    }
}

impl Store {
    /// Whether the store holds `id`, a tile the registry lists. A near copy answers from the
    /// few tiles it lacks (a bitmap that stays in the processor's cache) rather than from its
    /// whole index: a search page asks this of every store for every item.
    pub fn holds_listed(&self, id: TileId) -> bool {
        match &self.delta {
            Some(delta) => !delta.missing.contains(id.0),
            None => self.tiles.contains(id.0),
        }
    }

    /// The registry's tiles the store lacks, when it is a near copy with a delta: a bitmap small
    /// enough that a query over the registry's tiles reads it instead of the store's index.
    pub(crate) fn lacking_listed(&self) -> Option<&RoaringView<Vec<u8>>> {
        self.delta.as_ref().map(|delta| &delta.missing)
    }

    /// The store's delta from `registry`, opened, or built as `writing` allows.
    fn delta_from(&self, files: &StoreFiles, writing: Writing<'_>, registry: &TileSet, checksum: u64) -> Option<Delta> {
        let basis = Basis {
            registry: Identity { checksum, cardinality: registry.cardinality() },
            store: Identity { checksum: self.checksum, cardinality: self.tiles.cardinality() },
        };
        delta::open_or_build(&files.delta(), writing, basis, registry, &self.tiles)
    }
}

/// `a - b` inside `ranges` (everywhere when `None`), comparing only the containers the ranges
/// touch: the one way every diff of the inventory runs, by index or by delta.
fn andnot_filtered<A, B, S>(a: &RoaringView<A>, b: &RoaringView<B>, ranges: Option<&[IdRange]>, mut sink: S) -> S
where
    A: AsRef<[u8]>,
    B: AsRef<[u8]>,
    S: Sink,
{
    match ranges {
        Some(ranges) => {
            let mut clip = Clip::new(ranges, sink);
            kernels::andnot_where(a, b, kernels::touching(ranges), &mut clip);
            clip.into_inner()
        }
        None => {
            kernels::andnot(a, b, &mut sink);
            sink
        }
    }
}
/// The bytes of a `.tbm` index file before its portable Roaring bitmap (`docs/FORMAT.md`):
/// where another reader of the format, such as CRoaring, starts.
pub const INDEX_HEADER_LEN: usize = crate::index::HEADER_LEN;

/// Maps one `.tbm` index file and checks it on its own (header, checksum, structure, the
/// years of the grid it was built for), without comparing it with its parquet source.
pub fn open_index(path: &Path, years: YearRange) -> Result<TileSet> {
    Ok(crate::index::open(path, years, None)?.view)
}

/// `stores/NAME.parquet` inside `dir`.
pub fn manifest_path(dir: &Path, store: &str) -> PathBuf {
    StoreFiles::new(dir, store).manifest
}

/// The index file beside a parquet source: `x.parquet` -> `x.tbm`.
pub fn index_path(source: &Path) -> PathBuf {
    source.with_extension("tbm")
}
