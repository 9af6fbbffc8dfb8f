//! Every write to a store: records, removals, new listings and compaction, under its lock.

use std::fs;
use std::path::Path;

use roaring::RoaringBitmap;

use super::{Config, Inventory, StoreFiles, Writing, ensure_secret, open_or_rebuild};
use crate::error::{Error, IndexProblem, Result};
use crate::grid::TileId;
use crate::index;
use crate::store::{self, journal, manifest};

impl Inventory {
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
    /// [`store::Listing`]). Records appended after the listing's scan started keep applying
    /// over it; records from before are superseded by it. Then rewrites the index and reopens
    /// the store.
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

    /// Adds `tiles` to the checksums recorded for `store` (a tile recorded again is replaced),
    /// under the store's lock: two runs recording at once lose neither's rows.
    pub fn record_checksums(&mut self, store: &str, tiles: &[crate::checksums::TileSums]) -> Result<()> {
        self.store_position(store)?;
        let files = StoreFiles::new(&self.dir, store);
        fs::create_dir_all(self.dir.join("stores")).map_err(Error::io("creating", self.dir.join("stores")))?;
        let _lock = files.lock()?;
        let path = files.checksums();
        let mut merged: Vec<_> = crate::checksums::Checksums::open(&path, self.years())?.iter().collect();
        merged.extend_from_slice(tiles);
        crate::checksums::write(&path, self.years(), &merged)
    }

    fn store_position(&self, name: &str) -> Result<usize> {
        self.config.store_position(name)
    }

    /// Where an interrupted re-hash of `store` (`tessera verify`) stopped: every tile up to
    /// this id was checked, and what was damaged removed. `None` when none was interrupted.
    pub fn verify_cursor(&self, store: &str) -> Result<Option<TileId>> {
        let path = StoreFiles::new(&self.dir, &self.store(store)?.config.name).verify_cursor();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Error::io("reading", &path)(err)),
        };
        // A cursor that does not parse (a torn write predates the atomic one) restarts the pass.
        Ok(text.trim().parse().ok().map(TileId))
    }

    /// Saves how far a re-hash of `store` got (atomically), for [`Inventory::verify_cursor`];
    /// `None` clears it once the pass is complete.
    pub fn set_verify_cursor(&self, store: &str, last: Option<TileId>) -> Result<()> {
        let path = StoreFiles::new(&self.dir, &self.store(store)?.config.name).verify_cursor();
        match last {
            Some(id) => crate::fsutil::write_atomically(&path, id.0.to_string().as_bytes()),
            None => match fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(Error::io("removing", &path)(err)),
                _ => Ok(()),
            },
        }
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
        store.checksum = index.checksum;
        store.has_manifest = true;
        store.delta = match &self.registry {
            Some(registry) => store.delta_from(files, Writing::LockHeld, registry, self.registry_checksum),
            None => None,
        };
        Ok(())
    }
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

/// Salvages the damaged journal of `store` in the inventory at `dir` (see
/// [`store::repair`]): its valid records are kept, the damaged ones restored from the store's
/// index where it holds them, the damaged file set aside. Reads only
/// the config, since a damaged journal may keep the inventory from opening. `None` when the
/// journal is not damaged.
pub fn repair_journal(dir: &Path, store: &str) -> Result<Option<store::Repaired>> {
    let config = Config::load(dir)?;
    config.store_position(store)?;
    store::repair(&StoreFiles::new(dir, store), config.years)
}
