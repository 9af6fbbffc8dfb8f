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

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::bitmap::RoaringView;
use crate::bitmap::kernels;
use crate::bitmap::sink::{Clip, Count, Ranges, Sink};
use crate::error::{Error, IndexProblem, Result};
use crate::grid::{Bbox, IdRange, TileId, Year, YearRange};
use crate::index::{self, Index, Mapped, SourceStamp};
use crate::notice::Notice;
pub use crate::store::StoreFiles;
use crate::store::{self, IdsAndWarnings};
use crate::{journal, manifest, registry};

/// The config file's name inside an inventory.
pub const CONFIG_FILE: &str = "tessera.toml";
/// The registry's file name inside an inventory.
pub const REGISTRY_FILE: &str = "registry.parquet";
/// Held by `import` while it replaces the registry.
const REGISTRY_LOCK: &str = "registry.lock";
/// The name of the registry wherever a store name is taken as a source (`tessera diff registry
/// okavango`): what should exist. No store may be called this.
pub const REGISTRY: &str = "registry";

/// Whether a store is the source of truth for copies or a mirror of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The source of truth that copies are made from; exactly one store of an inventory.
    Primary,
    /// A store that holds copies of the primary's tiles.
    Mirror,
}

impl StoreConfig {
    /// Where the store's tile folders live, parsed (checked when the config was read).
    pub fn storage(&self) -> Result<crate::storage::Storage> {
        crate::storage::Storage::parse(&self.storage)
    }
}

impl Role {
    /// The role as written in `tessera.toml`: `primary` or `mirror`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Mirror => "mirror",
        }
    }
}

/// One `[[stores]]` entry of `tessera.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Unique name of the store: 1-64 of `[A-Za-z0-9_.-]`, not starting with `.`, never `registry`.
    pub name: String,
    /// Whether the store is the primary or a mirror.
    pub role: Role,
    /// Base URL of the tile folders for downloads, e.g. `https://.../global_0.1_degree_representation`.
    pub public_url: String,
    /// Where copy commands read or write: a local path or `s3://bucket/prefix`.
    pub storage: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct YearsConfig {
    first: Year,
    last: Year,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    years: YearsConfig,
    #[serde(default, skip_serializing_if = "MapConfig::is_empty")]
    map: MapConfig,
    #[serde(default, rename = "stores")]
    stores: Vec<StoreConfig>,
}

/// The optional `[map]` table: the online imagery under the coverage map. Its licence varies
/// by year (EOX's Sentinel-2 cloudless after 2016 is non-commercial), so it is configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// An XYZ tile URL template, e.g. `https://tiles.maps.eox.at/wmts/1.0.0/s2cloudless-2020_3857/default/g/{z}/{y}/{x}.jpg`.
    pub basemap_url: Option<String>,
    /// The attribution the imagery requires.
    pub basemap_attribution: Option<String>,
}

impl MapConfig {
    fn is_empty(&self) -> bool {
        self.basemap_url.is_none() && self.basemap_attribution.is_none()
    }
}

/// The parsed `tessera.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The inclusive range of years the inventory covers (`[years]`).
    pub years: YearRange,
    /// In the order the file lists them; that order is the order of every report.
    pub stores: Vec<StoreConfig>,
    /// The `[map]` table; empty when the file has none.
    pub map: MapConfig,
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
            crate::storage::Storage::parse(&store.storage)
                .map_err(|err| bad(format!("store `{}`: {err}", store.name)))?;
            if store.name == REGISTRY {
                return Err(bad(format!("store name `{REGISTRY}` is reserved: it names the upstream registry")));
            }
            if raw.stores[..n].iter().any(|other| other.name == store.name) {
                return Err(bad(format!("store `{}` is declared twice", store.name)));
            }
        }
        Ok(Config { years, stores: raw.stores, map: raw.map })
    }

    /// The config as `tessera.toml` text, which [`Config::parse`] reads back.
    pub fn to_toml(&self) -> String {
        let raw = RawConfig {
            years: YearsConfig { first: self.years.first(), last: self.years.last() },
            map: self.map.clone(),
            stores: self.stores.clone(),
        };
        let body = toml::to_string(&raw).expect("a config of strings and integers serialises");
        format!("# A tessera inventory: the stores that hold GeoTessera tiles.\n{body}")
    }

    /// Writes a new inventory: `dir/tessera.toml` and `dir/stores/`. Refuses a directory that
    /// already has a `tessera.toml`, so nothing is overwritten.
    pub fn create(&self, dir: &Path) -> Result<()> {
        Config::parse(&self.to_toml(), &dir.join(CONFIG_FILE))?;
        let path = dir.join(CONFIG_FILE);
        if path.exists() {
            return Err(Error::Config { path, message: "already exists; edit it, or choose another directory".into() });
        }
        fs::create_dir_all(dir.join("stores")).map_err(Error::io("creating", dir.join("stores")))?;
        crate::fsutil::write_atomically(&path, self.to_toml().as_bytes())?;
        ensure_secret(dir)
    }

    /// Reads and checks `dir/tessera.toml`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(CONFIG_FILE);
        if !path.exists() {
            return Err(Error::NotAnInventory { path: dir.to_owned() });
        }
        let text = fs::read_to_string(&path).map_err(Error::io("reading", &path))?;
        Config::parse(&text, &path)
    }

    /// Extends the years of the inventory in `dir` to end at `last`, rewriting `tessera.toml`
    /// atomically. No id moves: ids are year-major from the first year, which stays. The
    /// `last = ...` of the file is edited in place, so its comments and layout stay too.
    pub fn extend_years(dir: &Path, last: Year) -> Result<Config> {
        let path = dir.join(CONFIG_FILE);
        let config = Config::load(dir)?;
        let years = YearRange::new(config.years.first(), last.max(config.years.last()))
            .map_err(|err| Error::Config { path: path.clone(), message: err.to_string() })?;
        let text = fs::read_to_string(&path).map_err(Error::io("reading", &path))?;
        let wanted = Config { years, ..config };
        let edited = edit_last_year(&text, wanted.years.last())
            .filter(|edited| Config::parse(edited, &path).is_ok_and(|parsed| parsed == wanted));
        let text = edited.unwrap_or_else(|| wanted.to_toml());
        crate::fsutil::write_atomically(&path, text.as_bytes())?;
        Ok(wanted)
    }

    /// The primary store, if any store is declared.
    pub fn primary(&self) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.role == Role::Primary)
    }
}

/// `text` with the number after the first `last =` of the line that sets `years` (or of the
/// `[years]` table) replaced by `last`; `None` when there is no such line.
fn edit_last_year(text: &str, last: Year) -> Option<String> {
    let start = text.find("years")?;
    let at = start + text[start..].find("last")?;
    let equals = at + text[at..].find('=')?;
    let digits_at = equals + 1 + text[equals + 1..].find(|c: char| c.is_ascii_digit())?;
    let digits_end =
        digits_at + text[digits_at..].find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len() - digits_at);
    Some(format!("{}{last}{}", &text[..digits_at], &text[digits_end..]))
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
    /// The store's `[[stores]]` entry in `tessera.toml`.
    pub config: StoreConfig,
    /// Ids of the tiles the store holds, read in place from its index; empty when it has neither
    /// manifest nor journal.
    pub tiles: TileSet,
    /// Whether the store has a manifest or a journal (a new store has neither and holds nothing).
    pub has_manifest: bool,
    /// The manifest and journal `tiles` was built from.
    stamp: SourceStamp,
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
        let registry = if registry_path.exists() {
            let stamp = || SourceStamp::of(&registry_path);
            let read = || read_registry_ids(&registry_path, config.years);
            let lock = dir.join(REGISTRY_LOCK);
            let index_file = index_path(&registry_path);
            let lock = writes.then_some(lock.as_path());
            Some(open_or_rebuild(&index_file, lock, config.years, &mut notices, stamp, read)?.0.view)
        } else {
            notices.push(Notice::NoRegistry { path: registry_path.clone() });
            None
        };
        let mut stores = Vec::with_capacity(config.stores.len());
        for store in &config.stores {
            let files = StoreFiles::new(&dir, &store.name);
            let has_manifest = files.manifest.exists() || files.journal.exists();
            let (tiles, stamp) = if has_manifest {
                let read = || files.read_ids(config.years);
                let lock = files.lock_path();
                let (index, stamp) = open_or_rebuild(
                    &files.index(),
                    writes.then_some(lock.as_path()),
                    config.years,
                    &mut notices,
                    || files.stamp(),
                    read,
                )?;
                (index.view, stamp)
            } else {
                notices.push(Notice::NoManifest { store: store.name.clone() });
                (empty_set(config.years)?, SourceStamp::NONE)
            };
            stores.push(Store { config: store.clone(), tiles, has_manifest, stamp });
        }
        Ok(Inventory { dir, config, registry, stores, notices, writes, opened_from })
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
        self.stores.iter().find(|s| s.config.name == name).ok_or_else(|| Error::UnknownStore {
            name: name.to_owned(),
            known: self.stores.iter().map(|s| s.config.name.as_str()).collect::<Vec<_>>().join(", "),
        })
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

    /// Tiles in `source` but not in `target` that pass `filter`, as sorted id ranges. Either
    /// name may be [`REGISTRY`]: `missing("registry", "okavango", ..)` is what should exist and
    /// the primary lacks.
    pub fn missing(&self, source: &str, target: &str, filter: &Filter) -> Result<Vec<IdRange>> {
        let (source, target) = (self.tiles(source)?, self.tiles(target)?);
        Ok(self.andnot_into(source, target, filter, Ranges::default())?.0)
    }

    /// How many tiles `missing` would return.
    pub fn missing_count(&self, source: &str, target: &str, filter: &Filter) -> Result<u64> {
        let (source, target) = (self.tiles(source)?, self.tiles(target)?);
        Ok(self.andnot_into(source, target, filter, Count::default())?.0)
    }

    /// How many tiles a store holds that the registry does not list and that pass `filter`;
    /// `None` without a registry to compare with.
    pub fn extra_count(&self, store: &str, filter: &Filter) -> Result<Option<u64>> {
        let store = self.store(store)?;
        match &self.registry {
            Some(registry) => Ok(Some(self.andnot_into(&store.tiles, registry, filter, Count::default())?.0)),
            None => Ok(None),
        }
    }

    /// Marks `rows` as present in `store`: appends to its journal the tiles it does not hold
    /// yet, and those it holds whose rows bring sizes (a copy sent again replaces the sizes
    /// seen), and fsyncs it: from then on the record survives any crash. Then rewrites the
    /// index and reopens the store, so the next call starts from the new set without reading
    /// anything. Holds the store's lock meanwhile, so writers queue instead of racing. Once the
    /// journal holds more than `compact_after` records it is folded into the manifest
    /// ([`COMPACT_AFTER_ROWS`] is a good default).
    pub fn record(&mut self, store: &str, rows: &[manifest::ManifestRow], compact_after: usize) -> Result<Recorded> {
        let at = self.store_position(store)?;
        let files = StoreFiles::new(&self.dir, store);
        let _lock = files.lock()?;
        let mut state = files.state()?;
        let current = &self.stores[at];
        // Under the lock: if nobody changed the store since it was opened (or last written
        // here), the opened set is exactly its content; otherwise its content is read again.
        let unchanged = files.stamp()? == current.stamp;
        let reread = if unchanged { None } else { Some(files.read_ids(self.years())?.0) };
        let holds = |id: TileId| match &reread {
            None => current.tiles.contains(id.0),
            Some(ids) => ids.binary_search(&id).is_ok(),
        };
        let mut written: Vec<manifest::ManifestRow> = rows.to_vec();
        written.sort_by_key(|row| row.id);
        // The last row of a tile wins, as in the journal.
        written.reverse();
        written.dedup_by_key(|row| row.id);
        written.reverse();
        let known_sizes = |row: &manifest::ManifestRow| row.file_size.is_some() || row.scales_size.is_some();
        written.retain(|row| !holds(row.id) || known_sizes(row));
        let added = written.iter().filter(|row| !holds(row.id)).count();
        let mut recorded =
            Recorded { added, updated: written.len() - added, already: rows.len() - written.len(), compacted: false };
        if written.is_empty() {
            return Ok(recorded);
        }
        let entries: Vec<journal::Entry> = written.iter().map(|row| journal::Entry::Present(*row)).collect();
        journal::append(&files.journal, &mut state.journal, &entries)?;
        recorded.compacted = state.pending_count() > compact_after;
        if recorded.compacted {
            let ids = store::compact(&files, self.years())?;
            files.write_index(self.years(), ids)?;
        } else {
            let mut bitmap = match reread {
                None => self.bitmap_of(at)?,
                Some(ids) => ids.iter().map(|id| id.0).collect(),
            };
            bitmap.extend(written.iter().map(|row| row.id.0));
            index::write(&files.index(), &index::encode_bitmap(self.years(), &mut bitmap, files.stamp()?))?;
        }
        self.reopen(at, &files)?;
        Ok(recorded)
    }

    /// Marks `ids` as no longer present in `store` (damaged copies found by `tessera verify`),
    /// durably, like [`Inventory::record`]: the next diff lists them as missing. Returns how
    /// many of them the store held.
    pub fn remove(&mut self, store: &str, ids: &[TileId]) -> Result<usize> {
        let at = self.store_position(store)?;
        let files = StoreFiles::new(&self.dir, store);
        let _lock = files.lock()?;
        let mut state = files.state()?;
        let mut bitmap = if files.stamp()? == self.stores[at].stamp {
            self.bitmap_of(at)?
        } else {
            files.read_ids(self.years())?.0.iter().map(|id| id.0).collect()
        };
        let held: Vec<journal::Entry> =
            ids.iter().filter(|id| bitmap.remove(id.0)).map(|id| journal::Entry::Removed(*id)).collect();
        if held.is_empty() {
            return Ok(0);
        }
        journal::append(&files.journal, &mut state.journal, &held)?;
        index::write(&files.index(), &index::encode_bitmap(self.years(), &mut bitmap, files.stamp()?))?;
        self.reopen(at, &files)?;
        Ok(held.len())
    }

    /// Writes a listing of `store` (from `tessera scan` or `ingest`) as its new manifest, under
    /// the store's lock: the whole store, a scope of it, or merged into it (see
    /// [`store::Listing`]). Records appended after the listing was taken keep applying over it;
    /// records from before are superseded by it. Then rewrites the index and reopens the store.
    pub fn replace<R: manifest::SizedTile>(
        &mut self,
        store: &str,
        listing: &store::Listing<R>,
    ) -> Result<store::Replaced> {
        let at = self.store_position(store)?;
        let files = StoreFiles::new(&self.dir, store);
        fs::create_dir_all(self.dir.join("stores")).map_err(Error::io("creating", self.dir.join("stores")))?;
        let _lock = files.lock()?;
        ensure_secret(&self.dir)?;
        let (ids, mut replaced) = store::replace(&files, self.years(), listing)?;
        let writing = std::time::Instant::now();
        files.write_index(self.years(), ids)?;
        self.reopen(at, &files)?;
        replaced.timings.index = writing.elapsed();
        Ok(replaced)
    }

    /// Folds `store`'s journal into its manifest now (a `record` does it past
    /// [`COMPACT_AFTER_ROWS`]).
    pub fn compact(&mut self, store: &str) -> Result<()> {
        let at = self.store_position(store)?;
        let files = StoreFiles::new(&self.dir, store);
        let _lock = files.lock()?;
        let ids = store::compact(&files, self.years())?;
        files.write_index(self.years(), ids)?;
        self.reopen(at, &files)
    }

    /// The journal and the manifest's provenance of `store`: when it was last listed, and how
    /// many records apply over that listing.
    pub fn store_state(&self, store: &str) -> Result<store::State> {
        StoreFiles::new(&self.dir, &self.store(store)?.config.name).state()
    }

    fn store_position(&self, name: &str) -> Result<usize> {
        self.store(name)?;
        Ok(self.stores.iter().position(|s| s.config.name == name).expect("the store was just found"))
    }

    /// The opened set of the store at `at`, as a bitmap to edit.
    fn bitmap_of(&self, at: usize) -> Result<RoaringBitmap> {
        let files = StoreFiles::new(&self.dir, &self.stores[at].config.name);
        RoaringBitmap::deserialize_from(self.stores[at].tiles.bytes())
            .map_err(|err| Error::BadIndex { path: files.index(), problem: IndexProblem::Corrupt(err.to_string()) })
    }

    /// Maps the index just written for the store at `at` (the caller holds the lock, so it is
    /// the one of the sources now; rebuilt in memory should it not be).
    fn reopen(&mut self, at: usize, files: &StoreFiles) -> Result<()> {
        let years = self.config.years;
        let mut notices = Vec::new();
        let read = || files.read_ids(years);
        let lock = files.lock_path();
        let (index, stamp) = open_or_rebuild(&files.index(), Some(&lock), years, &mut notices, || files.stamp(), read)?;
        let store = &mut self.stores[at];
        store.tiles = index.view;
        store.stamp = stamp;
        store.has_manifest = true;
        Ok(())
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

/// The file of the inventory's secret: 32 random bytes, hex, that keys what its readers sign
/// (the STAC API's paging tokens), so that every replica of one inventory signs alike and a
/// signature outlives a restart. Written once by `init` or the first writer (mode 0640: its
/// owner and group, the servers' group); never by a reader.
pub const SECRET_FILE: &str = "secret.key";

/// The inventory's secret, if it has one.
pub fn read_secret(dir: &Path) -> Result<Option<[u8; 32]>> {
    let path = dir.join(SECRET_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io("reading", &path)(err)),
    };
    parse_secret(text.trim()).map(Some).ok_or_else(|| Error::Config {
        path,
        message: "expected 64 hexadecimal digits (32 bytes); remove the file and the next writer makes a new one"
            .into(),
    })
}

/// `64 hex digits` as 32 bytes.
pub fn parse_secret(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(key)
}

/// Writes the inventory's secret if it has none (atomically; readable by its owner and group).
pub fn ensure_secret(dir: &Path) -> Result<()> {
    let path = dir.join(SECRET_FILE);
    if path.exists() {
        return Ok(());
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|err| Error::Config { path: path.clone(), message: format!("no random numbers: {err}") })?;
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n";
    // Written whole beside it, then linked in: of two first writers racing, one key wins and
    // neither replaces the other's.
    let whole = dir.join(format!(".{SECRET_FILE}.new-{}", std::process::id()));
    crate::fsutil::write_atomically(&whole, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&whole, fs::Permissions::from_mode(0o640));
    }
    let linked = fs::hard_link(&whole, &path);
    let _ = fs::remove_file(&whole);
    match linked {
        Ok(()) => crate::fsutil::sync_parent(&path),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(Error::io("writing", &path)(err)),
    }
}

/// What [`import_registry`] did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Distinct tiles in the registry.
    pub tiles: usize,
    /// What reading it noticed (absent optional columns, duplicate rows).
    pub report: registry::ReadReport,
    /// The inventory's years, when the registry made them grow.
    pub extended: Option<YearRange>,
}

/// Copies the registry at `source` into the inventory in `dir` (atomically), after reading
/// it whole to check it. A registry with years after the inventory's last extends the
/// inventory's years in place (no id moves: ids are year-major from the first year); a year
/// before the first is [`Error::YearBeforeFirst`], and nothing changes. Holds the registry's
/// lock (`registry.lock`) throughout, so imports queue.
pub fn import_registry(dir: &Path, source: &Path) -> Result<Imported> {
    let _lock = lock_file(&dir.join(REGISTRY_LOCK))?;
    let config = Config::load(dir)?;
    ensure_secret(dir)?;
    let mut years = config.years;
    if let Some((first, last)) = registry::year_span(source)? {
        if first < i64::from(years.first()) {
            return Err(Error::YearBeforeFirst { path: source.to_owned(), year: first, first: years.first() });
        }
        if last > i64::from(years.last()) {
            let last =
                Year::try_from(last).map_err(|_| Error::BadYearRange { first: years.first(), last: Year::MAX })?;
            years = YearRange::new(years.first(), last)?;
        }
    }
    let (tiles, report) = registry::read_registry(source, years, registry::ReadOptions::default())?;
    let extended = (years != config.years).then_some(years);
    if extended.is_some() {
        Config::extend_years(dir, years.last())?;
    }
    let target = dir.join(REGISTRY_FILE);
    crate::fsutil::replace_atomically(&target, |out| {
        let mut from = fs::File::open(source).map_err(Error::io("opening", source))?;
        std::io::copy(&mut from, out).map_err(Error::io("copying", source))?;
        Ok(())
    })?;
    Ok(Imported { tiles: tiles.len(), report, extended })
}

fn lock_file(path: &Path) -> Result<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(Error::io("opening", path))?;
    file.lock().map_err(Error::io("locking", path))?;
    Ok(file)
}

/// Records past which `record` folds the journal into the manifest.
pub const COMPACT_AFTER_ROWS: usize = 200_000;

/// What [`Inventory::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Tiles newly marked present.
    pub added: usize,
    /// Tiles already present whose sizes were written again (a copy sent again).
    pub updated: usize,
    /// Tiles that were present already (recording is idempotent).
    pub already: usize,
    /// Whether the journal was folded into the manifest.
    pub compacted: bool,
}

/// `stores/NAME.parquet` inside `dir`.
pub fn manifest_path(dir: &Path, store: &str) -> PathBuf {
    StoreFiles::new(dir, store).manifest
}

/// The index file beside a parquet source: `x.parquet` -> `x.tbm`.
pub fn index_path(source: &Path) -> PathBuf {
    source.with_extension("tbm")
}

fn read_registry_ids(path: &Path, years: YearRange) -> Result<IdsAndWarnings> {
    let (ids, report) = registry::read_registry_ids(path, years)?;
    Ok((ids, report.warnings()))
}

/// Opens the index at `path` if it was built from the sources as `stamp` says they are now;
/// otherwise rebuilds it from `read_ids` and says why. Returns the index and the stamp of the
/// sources it holds. The reader's warnings are shown whenever the index is built.
///
/// A rebuild is written to `path` only under the sources' lock (`lock`; `None` for a
/// read-only inventory: never written), taken without waiting: a writer holding it is changing the sources, and an index built meanwhile could be
/// stale the moment it landed over the writer's. Without the lock, or on a read-only
/// inventory, the rebuilt index serves this process alone, from memory.
fn open_or_rebuild(
    path: &Path,
    lock: Option<&Path>,
    years: YearRange,
    notices: &mut Vec<Notice>,
    stamp: impl Fn() -> Result<SourceStamp>,
    read_ids: impl FnOnce() -> Result<IdsAndWarnings>,
) -> Result<(Index, SourceStamp)> {
    let seen = stamp()?;
    let problem = match index::open(path, years, Some(seen)) {
        Ok(index) => return Ok((index, seen)),
        Err(err) => err,
    };
    let guard = lock.and_then(try_lock);
    let built_from = stamp()?;
    let (ids, warnings) = read_ids()?;
    let bytes = index::encode(years, ids, built_from)?;
    let written = match guard {
        Some(_) => index::write(path, &bytes)
            .map_err(|err| notices.push(Notice::NotWritten { path: path.to_owned(), reason: err.to_string() }))
            .is_ok(),
        None => false,
    };
    if path.exists() || !written {
        notices.push(Notice::Rebuilt { path: path.to_owned(), problem: problem_of(problem), in_memory: !written });
    }
    notices.extend(warnings.into_iter().map(|message| Notice::SourceRows { message }));
    Ok((index::open_owned(bytes, years)?, built_from))
}

/// The lock at `path` if nobody holds it (`None` if somebody does, or it cannot be opened).
fn try_lock(path: &Path) -> Option<fs::File> {
    let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// The problem of an index that could not be opened (opening fails only with `BadIndex`).
fn problem_of(err: Error) -> IndexProblem {
    match err {
        Error::BadIndex { problem, .. } => problem,
        other => IndexProblem::Unreadable(other.to_string()),
    }
}

/// The empty set of a store without a manifest: built in memory, nothing written.
fn empty_set(years: YearRange) -> Result<TileSet> {
    Ok(index::open_owned(index::encode(years, [], SourceStamp::NONE)?, years)?.view)
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
        let config = Config::parse(&ok, path).unwrap();
        assert_eq!(Config::parse(&config.to_toml(), path).unwrap(), config);
    }
}
