//! Opening an index, or rebuilding it from its parquet source when it is missing or stale.

use std::fs;
use std::path::Path;

use super::TileSet;
use crate::error::{Error, IndexProblem, Result};
use crate::grid::YearRange;
use crate::index::{self, Index, SourceStamp};
use crate::notice::Notice;
use crate::registry;
use crate::store::IdsAndWarnings;

pub(super) fn read_registry_ids(path: &Path, years: YearRange) -> Result<IdsAndWarnings> {
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
pub(super) fn open_or_rebuild(
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
pub(super) fn try_lock(path: &Path) -> Option<fs::File> {
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
pub(super) fn empty_set(years: YearRange) -> Result<TileSet> {
    Ok(index::open_owned(index::encode(years, [], SourceStamp::NONE)?, years)?.view)
}
