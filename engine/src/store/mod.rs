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
//!   frames its listing can have seen: those appended before its scan started, by journal
//!   position, not by clock (see [`Listing`]). Those are superseded by it, the later ones
//!   keep applying over it;
//! - a compaction writes a manifest that includes the whole journal, then retires it to
//!   `NAME.journal.prev` and starts a new one (a new generation, so no frame is applied
//!   twice). A listing whose scan started in the retired journal is applied with the retired
//!   records that came after it; one whose scan started in a journal the store no longer
//!   holds is refused.
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
use journal::{Damage, Entry, Journal, Position};
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

    /// Where the store's journal ends now: the position a scan records as it starts, for
    /// [`Listing::started_after`]. With no journal, the end of the one a compaction retired (a
    /// crash between retiring it and starting the next leaves none), else [`Position::NONE`].
    pub fn journal_end(&self) -> Result<Position> {
        let current = journal::read(&self.journal)?;
        if current.valid > 0 {
            return Ok(current.end());
        }
        let retired = journal::read(&journal::previous_path(&self.journal))?;
        Ok(if retired.valid > 0 { retired.end() } else { Position::NONE })
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
    /// Where the store's journal ended when the listing's scan started
    /// ([`StoreFiles::journal_end`], read before the listing is): the frames up to it are
    /// superseded by the listing, every later frame keeps applying over it, whatever the
    /// clocks said when they were appended. A position in the journal a compaction retired
    /// still counts; one in a journal the store no longer holds is
    /// [`Error::ScanOutlivedJournal`].
    pub started_after: Position,
    /// When the listing was taken, and whether before its scan.
    pub taken: Taken,
    /// Add the listed tiles to what the store holds, dropping nothing.
    pub merge: bool,
}

/// When a listing was taken, relative to the scan that writes it.
///
/// The journal position decides what a listing supersedes; a clock can only narrow that.
/// A listing file made before its scan cannot show records made between its birth and the
/// scan, and nothing but a clock orders those: of the frames before the scan's start, it
/// supersedes only the leading run appended at or before its birth, each no earlier than the
/// one before it. The first frame stamped after the birth, or earlier than a frame before it
/// (the clock was seen stepping back), and every frame after it keep applying. So a clock
/// step never lets a listing supersede a frame appended after its scan started, and a step
/// the journal shows keeps every frame after it. What no rule can see is a clock stepped
/// back between the file's birth and a record made before the scan, with no frame between
/// to show it: a listing taken by the scan ([`Taken::ByTheScan`]) has no such blind spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// By the scan itself or piped into it as it ran (`scan --list`, `scan -`, `ingest`), at
    /// this time (nanoseconds since the epoch, kept for `status` only): it shows every record
    /// made before the scan started.
    ByTheScan(i64),
    /// Earlier, by another tool, as a file born at this time (nanoseconds since the epoch).
    BeforeTheScan(i64),
}

impl Taken {
    /// When the listing was taken, nanoseconds since the epoch.
    pub fn at(&self) -> i64 {
        match *self {
            Taken::ByTheScan(at) | Taken::BeforeTheScan(at) => at,
        }
    }
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
    /// Records appended after the listing was taken (see [`Taken`]), applied over it.
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
    let retired = journal::read(&journal::previous_path(&files.journal))?;
    let seen = Seen::of(files, &state, &retired, listing)?;
    let from = state.applies_from();
    let covered = state.journal.start_of(seen.current);
    // Records a compaction folded into the manifest after the listing was taken: the listing
    // cannot show them, and they are not in the journal to apply over it.
    let folded_later = effects(retired.frames[seen.retired..].iter().flat_map(|frame| &frame.entries));
    let mut report = Replaced { kept_records: folded_later.len(), ..Replaced::default() };
    let provenance = Provenance {
        journal_generation: state.journal.generation,
        journal_bytes: covered,
        listed_at: Some(listing.taken.at()),
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

/// The frames a listing can have seen, counted from the start of each of the store's
/// journals: all before are superseded by it, all after keep applying over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    /// Frames of the journal a compaction retired.
    retired: usize,
    /// Frames of the current journal.
    current: usize,
}

impl Seen {
    /// What `listing` can have seen: the frames before its scan's start, narrowed by the
    /// birth of a listing file made before the scan (see [`Taken`]).
    fn of<R: SizedTile>(files: &StoreFiles, state: &State, retired: &Journal, listing: &Listing<R>) -> Result<Seen> {
        let store = || files.manifest.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(seen) = Seen::by_position(&state.journal, retired, listing.started_after) else {
            let generation = listing.started_after.generation;
            return Err(Error::ScanOutlivedJournal { store: store(), generation });
        };
        let Taken::BeforeTheScan(born) = listing.taken else { return Ok(seen) };
        if let Some(forgotten_until) = state.provenance.forgotten_until
            && born <= forgotten_until
        {
            return Err(Error::ListingTooOld { store: store(), listed_at: born, forgotten_until });
        }
        Ok(seen.narrowed_to(born, &state.journal, retired))
    }

    /// The frames before `started_after`, found by the journal's identity; `None` when the
    /// store holds that journal no longer (two compactions, or a repair, since).
    fn by_position(current: &Journal, retired: &Journal, started_after: Position) -> Option<Seen> {
        if started_after == Position::NONE {
            // No journal when the scan started: every frame there is now came after it.
            Some(Seen { retired: 0, current: 0 })
        } else if current.holds(started_after) {
            Some(Seen { retired: retired.frames.len(), current: current.frames_up_to(started_after.bytes) })
        } else if retired.holds(started_after) {
            Some(Seen { retired: retired.frames_up_to(started_after.bytes), current: 0 })
        } else {
            None
        }
    }

    /// Cuts the seen frames, in journal order (the retired journal's, then the current's), at
    /// the first a listing born at `born` cannot be known to have seen: stamped after `born`,
    /// or earlier than a frame before it.
    fn narrowed_to(self, born: i64, current: &Journal, retired: &Journal) -> Seen {
        let seen = retired.frames[..self.retired].iter().chain(&current.frames[..self.current]);
        let mut newest = i64::MIN;
        let first_unseen = seen.map(|frame| frame.appended_at).position(|at| {
            let unseen = at > born || at < newest;
            newest = newest.max(at);
            unseen
        });
        match first_unseen {
            None => self,
            Some(at) if at < self.retired => Seen { retired: at, current: 0 },
            Some(at) => Seen { retired: self.retired, current: at - self.retired },
        }
    }
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
    /// Byte ranges of it that were not frames.
    pub skipped: Vec<(u64, u64)>,
    /// Records of its valid frames salvaged into the new journal (those the manifest did not
    /// include already).
    pub kept: usize,
    /// Tiles whose records were in the damaged bytes, restored from the store's index (added
    /// with unknown sizes, or removed again).
    pub restored: usize,
    /// Records the damaged bytes held past what the manifest includes, when no index built
    /// after them could restore them: lost (see [`Damage::records`]). 0 when one could.
    pub lost: usize,
}

/// Salvages a damaged journal, under the store's lock: every valid frame's records that the
/// manifest does not include go into a new journal (a new generation), and the damaged one
/// is set aside whole. `None` when the journal is not damaged (nothing is changed).
///
/// What the damaged bytes recorded is restored from the store's index when it is whole (its
/// checksums verify), was built from the manifest as it is, and from the journal up to past
/// the damage: the index then holds what the damaged frames left the store holding, and the
/// difference between it and the salvaged records at that point is written back, in its
/// place. Without such an index the damaged records are lost, and counted.
pub fn repair(files: &StoreFiles, years: YearRange) -> Result<Option<Repaired>> {
    let _lock = files.lock()?;
    match journal::read(&files.journal) {
        Ok(_) => return Ok(None),
        Err(Error::DamagedJournal { .. }) => {}
        Err(other) => return Err(other),
    }
    let (salvaged, skipped) = journal::salvage(&files.journal)?;
    let state = State { journal: salvaged, provenance: files.provenance()? };
    let from = state.applies_from();
    let damage: Vec<Damage> = skipped.iter().copied().filter(|damage| damage.to > from).collect();
    let kept = state.pending_count();
    let (entries, restored, lost) = match index_past(files, years, &damage)? {
        Some((index_ids, built_at)) => {
            let (entries, restored) = restore(files, years, &state, &index_ids, built_at)?;
            (entries, restored, 0)
        }
        None => (state.pending().copied().collect(), 0, damage.iter().map(|damage| damage.records).sum()),
    };
    let aside = journal::set_aside(&files.journal)?;
    let mut fresh = journal::start(&files.journal)?;
    if !entries.is_empty() {
        journal::append(&files.journal, &mut fresh, &entries)?;
    }
    files.write_index(years, files.read_ids(years)?.0)?;
    let skipped = skipped.iter().map(|damage| (damage.from, damage.to)).collect();
    Ok(Some(Repaired { aside, skipped, kept, restored, lost }))
}

/// The ids of the store's index and the journal length it was built at, when the index can
/// tell what the `damage` recorded: whole, built from the manifest as it is now, and from the
/// journal up to past the damage (no longer than it is: not from another journal).
fn index_past(files: &StoreFiles, years: YearRange, damage: &[Damage]) -> Result<Option<(Vec<TileId>, u64)>> {
    let Some(damage_end) = damage.iter().map(|damage| damage.to).max() else { return Ok(None) };
    let Ok(index) = index::open(&files.index(), years, None) else { return Ok(None) };
    let now = files.stamp()?;
    let built = index.source;
    let same_manifest = (built.len, built.mtime_ns) == (now.len, now.mtime_ns);
    if !same_manifest || built.journal_len < damage_end || built.journal_len > now.journal_len {
        return Ok(None);
    }
    Ok(Some((index.view.to_vec().into_iter().map(TileId).collect(), built.journal_len)))
}

/// The new journal's entries, with what the damage recorded restored from `index_ids` (the
/// store as it was with the journal `built_at` bytes long), and how many tiles that restored:
/// the salvaged entries up to there, then a tile for each difference between the index and
/// what they make of the manifest, then the salvaged entries after.
fn restore(
    files: &StoreFiles,
    years: YearRange,
    state: &State,
    index_ids: &[TileId],
    built_at: u64,
) -> Result<(Vec<Entry>, usize)> {
    let from = state.applies_from();
    let frames_before = state.journal.frames.iter().filter(|frame| frame.end > from && frame.end <= built_at);
    let before: Vec<Entry> = frames_before.flat_map(|frame| &frame.entries).copied().collect();
    let mut held =
        if files.manifest.exists() { manifest::read_manifest_ids(&files.manifest, years)?.0 } else { Vec::new() };
    apply_ids(&mut held, &effects(before.iter()));
    let differences = differences(&held, index_ids);
    let restored = differences.len();
    let after = state.journal.entries_after(built_at.max(from)).copied();
    let entries = before.into_iter().chain(differences).chain(after).collect();
    Ok((entries, restored))
}

/// The entries that turn `held` into `wanted` (both sorted): a tile present for each id only
/// `wanted` has (sizes unknown), a removal for each only `held` has.
fn differences(held: &[TileId], wanted: &[TileId]) -> Vec<Entry> {
    let present = |id: TileId| Entry::Present(ManifestRow { id, file_size: None, scales_size: None });
    let added = wanted.iter().filter(|id| held.binary_search(id).is_err()).map(|&id| present(id));
    let removed = held.iter().filter(|id| wanted.binary_search(id).is_err()).map(|&id| Entry::Removed(id));
    let mut entries: Vec<Entry> = added.chain(removed).collect();
    entries.sort_by_key(Entry::id);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::DEFAULT_YEARS;

    fn row(id: u32) -> ManifestRow {
        ManifestRow { id: TileId(id), file_size: None, scales_size: None }
    }

    fn record(files: &StoreFiles, ids: &[u32]) {
        let mut journal = journal::read(&files.journal).unwrap();
        let entries: Vec<Entry> = ids.iter().map(|&id| Entry::Present(row(id))).collect();
        journal::append(&files.journal, &mut journal, &entries).unwrap();
    }

    fn scan(files: &StoreFiles, listed: &[u32], started_after: Position, taken: Taken) -> Result<Vec<TileId>> {
        let rows: Vec<ManifestRow> = listed.iter().map(|&id| row(id)).collect();
        let listing = Listing { rows: &rows, scope: &Scope::default(), started_after, taken, merge: false };
        Ok(replace(files, DEFAULT_YEARS, &listing)?.0)
    }

    fn store() -> (tempfile::TempDir, StoreFiles) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("stores")).unwrap();
        let files = StoreFiles::new(dir.path(), "s3");
        (dir, files)
    }

    fn ids(values: &[u32]) -> Vec<TileId> {
        values.iter().map(|&id| TileId(id)).collect()
    }

    #[test]
    fn a_record_folded_by_a_compaction_during_the_scan_is_kept_over_its_listing() {
        let (_dir, files) = store();
        record(&files, &[1]);
        let started_after = files.journal_end().unwrap();
        // While the scan reads its listing (which shows 1 only): 2 is recorded and folded in.
        record(&files, &[2]);
        compact(&files, DEFAULT_YEARS).unwrap();
        record(&files, &[3]);
        assert_eq!(scan(&files, &[1], started_after, Taken::ByTheScan(0)).unwrap(), ids(&[1, 2, 3]));
        assert_eq!(files.read_rows(DEFAULT_YEARS).unwrap(), [row(1), row(2), row(3)]);
        // A scan that started after all of it supersedes every record.
        let started_after = files.journal_end().unwrap();
        assert_eq!(scan(&files, &[1], started_after, Taken::ByTheScan(0)).unwrap(), ids(&[1]));
    }

    #[test]
    fn a_scan_that_outlived_two_compactions_is_refused() {
        let (_dir, files) = store();
        record(&files, &[1]);
        let started_after = files.journal_end().unwrap();
        for id in [2, 3] {
            record(&files, &[id]);
            compact(&files, DEFAULT_YEARS).unwrap();
        }
        let err = scan(&files, &[1], started_after, Taken::ByTheScan(0)).unwrap_err();
        assert!(matches!(err, Error::ScanOutlivedJournal { generation, .. } if generation == started_after.generation));
        assert_eq!(files.read_rows(DEFAULT_YEARS).unwrap(), [row(1), row(2), row(3)], "nothing was written");
    }

    #[test]
    fn a_scan_that_found_no_journal_keeps_every_record_made_since() {
        let (_dir, files) = store();
        let started_after = files.journal_end().unwrap();
        assert_eq!(started_after, Position::NONE);
        record(&files, &[2]);
        assert_eq!(scan(&files, &[1], started_after, Taken::ByTheScan(0)).unwrap(), ids(&[1, 2]));
    }

    #[test]
    fn repair_restores_a_damaged_removal_from_the_index_and_counts_what_it_cannot() {
        let (_dir, files) = store();
        record(&files, &[1, 2]);
        let mut journal = journal::read(&files.journal).unwrap();
        journal::append(&files.journal, &mut journal, &[Entry::Removed(TileId(1))]).unwrap();
        record(&files, &[3]);
        files.write_index(DEFAULT_YEARS, files.read_ids(DEFAULT_YEARS).unwrap().0).unwrap();
        let whole = fs::read(&files.journal).unwrap();
        // The removal's frame (the second) flips a bit in its entry.
        let mut bytes = whole.clone();
        let removal = journal.frames[0].end as usize;
        bytes[removal + 17] ^= 1;
        fs::write(&files.journal, &bytes).unwrap();
        let repaired = repair(&files, DEFAULT_YEARS).unwrap().unwrap();
        assert_eq!((repaired.kept, repaired.restored, repaired.lost), (3, 1, 0));
        assert_eq!(files.read_ids(DEFAULT_YEARS).unwrap().0, ids(&[2, 3]));
        // Without the index, the removal is lost, and counted.
        fs::write(&files.journal, &bytes).unwrap();
        fs::remove_file(files.index()).unwrap();
        let repaired = repair(&files, DEFAULT_YEARS).unwrap().unwrap();
        assert_eq!((repaired.kept, repaired.restored, repaired.lost), (3, 0, 1));
        assert_eq!(files.read_ids(DEFAULT_YEARS).unwrap().0, ids(&[1, 2, 3]));
    }

    fn frame(end: u64, appended_at: i64) -> journal::Frame {
        journal::Frame { end, appended_at, entries: vec![Entry::Present(row(end as u32))] }
    }

    #[test]
    fn a_listing_file_sees_only_the_frames_before_its_birth_and_before_any_clock_step() {
        let retired = Journal { generation: 7, frames: vec![frame(64, 10), frame(108, 20)], valid: 108 };
        let current = Journal { generation: 8, frames: vec![frame(64, 30), frame(108, 40)], valid: 108 };
        let all = Seen { retired: 2, current: 2 };
        assert_eq!(all.narrowed_to(40, &current, &retired), all);
        assert_eq!(all.narrowed_to(35, &current, &retired), Seen { retired: 2, current: 1 });
        assert_eq!(all.narrowed_to(15, &current, &retired), Seen { retired: 1, current: 0 });
        // The clock stepped back before the current journal's last frame: however early it
        // says it came, it is not taken as seen, nor anything after it.
        let stepped = Journal { generation: 8, frames: vec![frame(64, 30), frame(108, 5)], valid: 108 };
        assert_eq!(all.narrowed_to(40, &stepped, &retired), Seen { retired: 2, current: 1 });
        // A clock never widens what the position allows.
        let before = Seen { retired: 2, current: 0 };
        assert_eq!(before.narrowed_to(i64::MAX, &current, &retired), before);
    }

    #[test]
    fn a_listing_file_keeps_the_records_made_after_its_birth() {
        let (_dir, files) = store();
        record(&files, &[1]);
        let born = files.state().unwrap().journal.newest().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        record(&files, &[2]);
        let started_after = files.journal_end().unwrap();
        let held = scan(&files, &[], started_after, Taken::BeforeTheScan(born)).unwrap();
        assert_eq!(held, ids(&[2]), "1 was recorded before the file's birth, 2 after it");
    }
}
