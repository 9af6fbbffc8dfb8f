//! `tessera import`: a new registry, checked whole, then swapped in.

use std::fs;
use std::path::Path;

use super::{Config, REGISTRY_FILE, REGISTRY_LOCK, ensure_secret};
use crate::error::{Error, Result};
use crate::grid::{Year, YearRange};
use crate::registry;

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
