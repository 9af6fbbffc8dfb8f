//! One store's files, and every write to them.
//!
//! ```text
//! stores/NAME.parquet   the manifest, with its provenance: the journal bytes it includes
//!                       and when the listing behind it was taken
//! stores/NAME.journal   records since (tiles copied, tiles found damaged)
//! stores/NAME.tbm       the index of both (derived)
//! stores/NAME.lock      held by every writer for its whole read-modify-write
//! ```
//!
//! What a store holds is its manifest with the journal's frames that the manifest does not
//! include applied over it, in order. Every writer takes the lock, reads the journal and the
//! manifest's provenance, and then makes one durable change, the commit point:
//! - a record or a removal appends one fsynced frame;
//! - a listing (`scan`, `ingest`) writes a new manifest whose provenance includes exactly the
//!   frames appended before the listing was taken: those are superseded by it, the later
//!   ones keep applying over it;
//! - a compaction writes a manifest that includes the whole journal, then retires it to
//!   `NAME.journal.prev` and starts a new one (a new generation, so no frame is applied
//!   twice). A listing taken before the retired records is applied with those of them that
//!   came after it; one taken before records no journal holds any longer is refused.
//!
//! The index is written after the commit point and is stale until then: a crash at any
//! point leaves the previous state or the new one, and the next open rebuilds the index.
//!
//! [`manifest`] reads and writes the parquet manifest, [`journal`] the record frames.

pub mod journal;
pub mod manifest;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::copylist::{KeyStyle, KeyWriter};
use crate::error::{Error, Result};
use crate::grid::{TileId, Year, YearRange};
use crate::index::{self, SourceStamp};
use journal::{Entry, Journal};
use manifest::{ManifestRow, Provenance, SizedTile};

/// Temporary files older than this are a killed writer's, removed by the next writer.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Ids of a parquet source, with the reader's warnings (duplicates, absent columns).
pub(crate) type IdsAndWarnings = (Vec<TileId>, Vec<String>);

/// The files of one store: its manifest, its record journal, and the index built from both.
#[derive(Debug, Clone)]
pub struct StoreFiles {
    /// `stores/NAME.parquet`: the store's manifest.
    pub manifest: PathBuf,
    /// `stores/NAME.journal`: the store's record journal.
    pub journal: PathBuf,
}

impl StoreFiles {
    /// The paths of store `store` of the inventory in `dir`, under `dir/stores/`; none need exist.
    pub fn new(dir: &Path, store: &str) -> StoreFiles {
        let manifest = dir.join("stores").join(format!("{store}.parquet"));
        StoreFiles { journal: journal::journal_path(&manifest), manifest }
    }

    /// `stores/NAME.tbm`: the index built from the manifest and the journal.
    pub fn index(&self) -> PathBuf {
        self.manifest.with_extension("tbm")
    }

    /// `stores/NAME.delta`: the store's differences from the registry, derived from the two
    /// indexes (`inventory::delta`).
    pub(crate) fn delta(&self) -> PathBuf {
        self.manifest.with_extension("delta")
    }

    /// `stores/NAME.sums`: the checksums `tessera hash` recorded for the store's files
    /// ([`crate::checksums`]).
    pub fn checksums(&self) -> PathBuf {
        self.manifest.with_extension("sums")
    }

    /// `stores/NAME.verify`: the last tile id an interrupted `verify` finished, to resume after.
    pub(crate) fn verify_cursor(&self) -> PathBuf {
        self.manifest.with_extension("verify")
    }

    /// `stores/NAME.lock`: held by every writer of the store.
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.manifest.with_extension("lock")
    }

    /// What the index must have been built from: the manifest as it is now (or none) and the
    /// journal's current length (a stat, not a read: a torn tail makes the index stale, and
    /// the rebuild records the length it saw).
    pub fn stamp(&self) -> Result<SourceStamp> {
        let manifest = if self.manifest.exists() { SourceStamp::of(&self.manifest)? } else { SourceStamp::NONE };
        let journal_len = fs::metadata(&self.journal).map_or(0, |meta| meta.len());
        Ok(manifest.with_journal(journal_len))
    }

    /// The manifest's provenance; the default (includes no journal, never listed) without one.
    pub fn provenance(&self) -> Result<Provenance> {
        if self.manifest.exists() { manifest::read_provenance(&self.manifest) } else { Ok(Provenance::default()) }
    }

    /// The journal and the manifest's provenance, read together.
    pub fn state(&self) -> Result<State> {
        Ok(State { journal: journal::read(&self.journal)?, provenance: self.provenance()? })
    }

    /// Every row the store holds, sorted by id: the manifest's, with the journal's frames
    /// it does not include applied over it (their sizes win).
    pub fn read_rows(&self, years: YearRange) -> Result<Vec<ManifestRow>> {
        let state = self.state()?;
        let mut rows = self.manifest_rows(years)?;
        apply_rows(&mut rows, &effects(state.pending()));
        Ok(rows)
    }

    fn manifest_rows(&self, years: YearRange) -> Result<Vec<ManifestRow>> {
        Ok(if self.manifest.exists() { manifest::read_manifest(&self.manifest, years)?.0 } else { Vec::new() })
    }

    /// The ids the store holds (as [`StoreFiles::read_rows`], reading no sizes), with the
    /// manifest reader's warnings.
    pub(crate) fn read_ids(&self, years: YearRange) -> Result<IdsAndWarnings> {
        let state = self.state()?;
        let (mut ids, warnings) = match self.manifest.exists() {
            true => {
                let (ids, report) = manifest::read_manifest_ids(&self.manifest, years)?;
                (ids, report.warnings())
            }
            false => (Vec::new(), Vec::new()),
        };
        apply_ids(&mut ids, &effects(state.pending()));
        Ok((ids, warnings))
    }

    /// Takes the store's lock file, released when the guard drops. Every writer holds it for
    /// its whole read-modify-write, so writers queue instead of racing.
    /// Also removes what writers killed mid-write left: temporary files older than an hour
    /// (a younger one may be a reader's index rebuild in progress).
    pub(crate) fn lock(&self) -> Result<File> {
        let path = self.lock_path();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        file.lock().map_err(Error::io("locking", &path))?;
        let (index, delta) = (self.index(), self.delta());
        crate::fsutil::remove_orphans(&[&self.manifest, &self.journal, &index, &delta], ORPHAN_AGE);
        Ok(file)
    }

    /// Writes the index of `ids` (sorted, unique), stamped with the sources as they are now.
    pub(crate) fn write_index(&self, years: YearRange, ids: Vec<TileId>) -> Result<()> {
        index::write(&self.index(), &index::encode(years, ids, self.stamp()?)?)
    }
}

/// A store's journal and its manifest's provenance, read under one lock.
#[derive(Debug, Clone)]
pub struct State {
    /// The store's record journal, as read.
    pub journal: Journal,
    /// The manifest's provenance; the default when the store has no manifest.
    pub provenance: Provenance,
}

impl State {
    /// Where the frames that apply over the manifest begin: past the bytes it includes when it
    /// includes this journal's generation, else at the start (a journal started after it).
    pub fn applies_from(&self) -> u64 {
        if self.journal.generation == self.provenance.journal_generation { self.provenance.journal_bytes } else { 0 }
    }

    /// The entries that apply over the manifest, in order.
    pub fn pending(&self) -> impl Iterator<Item = &Entry> {
        self.journal.entries_after(self.applies_from())
    }

    /// How many entries apply over the manifest: records since it was written.
    pub fn pending_count(&self) -> usize {
        self.journal.count_after(self.applies_from())
    }
}

/// Each tile `entries` name, with its last entry: `Some(row)` present, `None` removed.
fn effects<'a>(entries: impl Iterator<Item = &'a Entry>) -> BTreeMap<TileId, Option<ManifestRow>> {
    let mut latest = BTreeMap::new();
    for entry in entries {
        let effect = match entry {
            Entry::Present(row) => Some(*row),
            Entry::Removed(_) => None,
        };
        latest.insert(entry.id(), effect);
    }
    latest
}

fn apply_rows(rows: &mut Vec<ManifestRow>, effects: &BTreeMap<TileId, Option<ManifestRow>>) {
    if effects.is_empty() {
        return;
    }
    rows.retain(|row| !effects.contains_key(&row.id));
    rows.extend(effects.values().flatten());
    rows.sort_by_key(|row| row.id);
}

fn apply_ids(ids: &mut Vec<TileId>, effects: &BTreeMap<TileId, Option<ManifestRow>>) {
    if effects.is_empty() {
        return;
    }
    ids.retain(|id| !effects.contains_key(id));
    ids.extend(effects.iter().filter(|(_, row)| row.is_some()).map(|(id, _)| *id));
    ids.sort_unstable();
}

/// Which of a store's tiles a listing covers. A scoped rescan replaces exactly these: tiles in
/// scope that the listing lacks are dropped, tiles outside are untouched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only these years; empty: every year.
    pub years: Vec<Year>,
    /// Only tiles whose key (`2024/grid_1.05_49.95`) or folder name (`grid_1.05_49.95`)
    /// starts with this: the prefix a sharded listing used (`2024/grid_1`, `grid_-0.`).
    pub prefix: Option<String>,
}

impl Scope {
    /// Every tile of the store.
    pub fn is_all(&self) -> bool {
        self.years.is_empty() && self.prefix.is_none()
    }

    /// Whether the scope covers the tile folder `name` (`grid_1.05_49.95`) of `year`: what a
    /// walk of a store lists for this scope.
    pub fn covers_folder(&self, year: Year, name: &str) -> bool {
        if !self.years.is_empty() && !self.years.contains(&year) {
            return false;
        }
        let Some(prefix) = &self.prefix else { return true };
        name.starts_with(prefix.as_str()) || format!("{year}/{name}").starts_with(prefix.as_str())
    }

    /// Whether the scope covers tile `id`; `key` is a buffer for its key.
    fn contains(&self, years: YearRange, keys: &KeyWriter, id: TileId, key: &mut Vec<u8>) -> bool {
        let Ok(tile) = years.tile(id) else { return false };
        if !self.years.is_empty() && !self.years.contains(&tile.year) {
            return false;
        }
        let Some(prefix) = &self.prefix else { return true };
        key.clear();
        keys.push(key, id.0, KeyStyle::Key);
        let folder = key.iter().position(|&b| b == b'/').map_or(&key[..], |slash| &key[slash + 1..]);
        key.starts_with(prefix.as_bytes()) || folder.starts_with(prefix.as_bytes())
    }
}

/// A listing to write into a store, as `tessera scan` or `ingest` read it.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a, R: SizedTile = ManifestRow> {
    /// The tiles listed, with the sizes seen, sorted by id and unique: a scan's
    /// [`ScannedTile`](crate::listing::ScannedTile)s as they are, or manifest rows.
    pub rows: &'a [R],
    /// What the listing covers.
    pub scope: &'a Scope,
    /// When the listing was taken, nanoseconds since the epoch: records appended after it keep
    /// applying over the new manifest; those appended before are superseded by it.
    pub listed_at: i64,
    /// Add the listed tiles to what the store holds, dropping nothing.
    pub merge: bool,
}

/// What writing a listing did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replaced {
    /// Tiles the store holds now.
    pub held: usize,
    /// Tiles in scope the store held and the listing lacks: dropped.
    pub dropped: usize,
    /// Listed tiles outside the scope: ignored.
    pub outside: usize,
    /// Records appended after the listing was taken, applied over it.
    pub kept_records: usize,
    /// How long the writes took.
    pub timings: WriteTimings,
}

/// How long a listing's writes took (for `tessera scan --timings`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteTimings {
    /// Writing the manifest, durably.
    pub manifest: std::time::Duration,
    /// Writing the index.
    pub index: std::time::Duration,
}

/// Writes `listing` as the store's new manifest, under the lock the caller holds, and
/// returns the ids the store holds now. The manifest is the commit point.
pub(crate) fn replace<R: SizedTile>(
    files: &StoreFiles,
    years: YearRange,
    listing: &Listing<R>,
) -> Result<(Vec<TileId>, Replaced)> {
    let state = files.state()?;
    if let Some(forgotten_until) = state.provenance.forgotten_until
        && listing.listed_at <= forgotten_until
    {
        let store = files.manifest.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        return Err(Error::ListingTooOld { store, listed_at: listing.listed_at, forgotten_until });
    }
    let from = state.applies_from();
    // Frames appended up to the listing are superseded; never fewer than the manifest includes.
    let covered = state.journal.offset_after(listing.listed_at).max(from);
    // Records a compaction folded into the manifest after the listing was taken: the listing
    // cannot show them, and they are not in the journal to apply over it.
    let retired = journal::read(&journal::previous_path(&files.journal))?;
    let folded_later = effects(
        retired.frames.iter().filter(|frame| frame.appended_at > listing.listed_at).flat_map(|frame| &frame.entries),
    );
    let mut report = Replaced { kept_records: folded_later.len(), ..Replaced::default() };
    let provenance = Provenance {
        journal_generation: state.journal.generation,
        journal_bytes: covered,
        listed_at: Some(listing.listed_at),
        forgotten_until: state.provenance.forgotten_until,
    };
    let writing = std::time::Instant::now();
    let mut ids: Vec<TileId> = if listing.scope.is_all() && !listing.merge && folded_later.is_empty() {
        // The whole store, as listed: the listing's rows are written as they are.
        manifest::write_manifest_with(&files.manifest, years, listing.rows, &provenance)?;
        listing.rows.iter().map(SizedTile::id).collect()
    } else if listing.scope.is_all() && !listing.merge {
        let mut rows: Vec<ManifestRow> = listing.rows.iter().map(SizedTile::to_row).collect();
        apply_rows(&mut rows, &folded_later);
        manifest::write_manifest_with(&files.manifest, years, &rows, &provenance)?;
        rows.iter().map(|row| row.id).collect()
    } else {
        // What the store holds as of the listing: the manifest with the superseded frames.
        let mut held = files.manifest_rows(years)?;
        let superseded = state.journal.frames.iter().filter(|frame| frame.end > from && frame.end <= covered);
        apply_rows(&mut held, &effects(superseded.flat_map(|frame| &frame.entries)));
        let listed: Vec<ManifestRow> = listing.rows.iter().map(SizedTile::to_row).collect();
        let listed =
            if listing.merge { listed } else { rescope(&mut held, &listed, listing.scope, years, &mut report) };
        let mut rows = merge_rows(held, listed);
        apply_rows(&mut rows, &folded_later);
        manifest::write_manifest_with(&files.manifest, years, &rows, &provenance)?;
        rows.iter().map(|row| row.id).collect()
    };
    report.timings.manifest = writing.elapsed();
    let kept: Vec<&Entry> = state.journal.entries_after(covered).collect();
    report.kept_records += kept.len();
    apply_ids(&mut ids, &effects(kept.into_iter()));
    report.held = ids.len();
    Ok((ids, report))
}

/// For a scoped rescan: drops from `held` the tiles in scope, counting those the listing
/// lacks, and returns the listed rows in scope (counting those outside).
fn rescope(
    held: &mut Vec<ManifestRow>,
    listed: &[ManifestRow],
    scope: &Scope,
    years: YearRange,
    report: &mut Replaced,
) -> Vec<ManifestRow> {
    let keys = KeyWriter::new(years);
    let mut key = Vec::new();
    let mut in_scope = |id: TileId| scope.contains(years, &keys, id, &mut key);
    let (inside, outside): (Vec<ManifestRow>, Vec<ManifestRow>) = listed.iter().partition(|row| in_scope(row.id));
    report.outside = outside.len();
    let listed = |id: TileId| inside.binary_search_by_key(&id, |row| row.id).is_ok();
    held.retain(|row| {
        let replaced = in_scope(row.id);
        report.dropped += usize::from(replaced && !listed(row.id));
        !replaced
    });
    inside
}

/// `held` and `listed` (both sorted), one row a tile; the listed row wins.
fn merge_rows(held: Vec<ManifestRow>, listed: Vec<ManifestRow>) -> Vec<ManifestRow> {
    let mut rows = listed;
    rows.extend(held);
    // Stable: the listed row of a tile comes first and is the one kept.
    rows.sort_by_key(|row| row.id);
    rows.dedup_by_key(|row| row.id);
    rows
}

/// Folds the whole journal into a new manifest, retires it (replacing the journal retired
/// before, whose records are then forgotten) and starts a new one, under the lock the caller
/// holds; returns the ids the store holds (unchanged). A crash after the manifest and before
/// the new journal leaves a manifest that includes the old journal whole: nothing is applied
/// twice.
pub(crate) fn compact(files: &StoreFiles, years: YearRange) -> Result<Vec<TileId>> {
    let state = files.state()?;
    let rows = files.read_rows(years)?;
    let forgotten = journal::read(&journal::previous_path(&files.journal))?.newest();
    let provenance = Provenance {
        journal_generation: state.journal.generation,
        journal_bytes: state.journal.valid,
        listed_at: state.provenance.listed_at,
        forgotten_until: state.provenance.forgotten_until.max(forgotten),
    };
    manifest::write_manifest_with(&files.manifest, years, &rows, &provenance)?;
    journal::retire(&files.journal)?;
    journal::start(&files.journal)?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// What [`repair`] did to a damaged journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// Where the damaged journal was set aside, whole.
    pub aside: PathBuf,
    /// Byte ranges of it that were not frames: what was lost.
    pub skipped: Vec<(u64, u64)>,
    /// Records salvaged into the new journal (those the manifest did not include already).
    pub kept: usize,
}

/// Salvages a damaged journal, under the store's lock: every valid frame's records that the
/// manifest does not include go into a new journal (a new generation), and the damaged one
/// is set aside whole. `None` when the journal is not damaged (nothing is changed).
pub fn repair(files: &StoreFiles, years: YearRange) -> Result<Option<Repaired>> {
    let _lock = files.lock()?;
    match journal::read(&files.journal) {
        Ok(_) => return Ok(None),
        Err(Error::DamagedJournal { .. }) => {}
        Err(other) => return Err(other),
    }
    let (salvaged, skipped) = journal::salvage(&files.journal)?;
    let state = State { journal: salvaged, provenance: files.provenance()? };
    let entries: Vec<Entry> = state.pending().copied().collect();
    let aside = journal::set_aside(&files.journal)?;
    let mut fresh = journal::start(&files.journal)?;
    if !entries.is_empty() {
        journal::append(&files.journal, &mut fresh, &entries)?;
    }
    files.write_index(years, files.read_ids(years)?.0)?;
    Ok(Some(Repaired { aside, skipped, kept: entries.len() }))
}
