//! What the server answers from: one loaded inventory's catalog (plain data) and the caches
//! derived from it for its life (item templates, encoded coverage bitmaps). A reload builds
//! a new snapshot and swaps it in whole, so a cache never outlives the data it was made from.
//!
//! The modules stay in one direction: `catalog` knows nothing of rendering or caching;
//! `render` and `coverage` read a catalog; only this module puts the three together.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::coverage;
use crate::error::Result;
use crate::render::Templates;

/// A catalog and its caches.
#[derive(Debug)]
pub struct Snapshot {
    /// Shared with responses that outlive a request's borrow (a streamed copy list).
    pub catalog: Arc<Catalog>,
    /// Item templates, one per (year, set of stores), made on first use.
    pub templates: Templates,
    /// Coverage bitmaps, encoded once per (source, target, year).
    pub coverage: coverage::Cache,
}

impl Snapshot {
    /// Opens the inventory in `dir` (read-only) for an API whose public URL is `base`.
    pub fn load(dir: &Path, base: &str) -> Result<Snapshot> {
        let catalog = Catalog::load(dir, base)?;
        let templates = Templates::new(catalog.years(), catalog.stores().len());
        Ok(Snapshot { catalog: Arc::new(catalog), templates, coverage: coverage::Cache::default() })
    }
}

/// A snapshot is read as its catalog; its caches are asked for by name.
impl Deref for Snapshot {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}
