//! What the server answers from: one loaded inventory's catalog (plain data) and the caches
//! derived from it for its life (item templates, encoded coverage bitmaps, rendered pages). A reload builds
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
use crate::pages::Pages;
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
    /// Search pages rendered, by path and query.
    pub pages: Pages,
}

impl Snapshot {
    /// Opens the inventory in `dir` (read-only) for an API whose public URL is `base`, keeping
    /// up to `page_bytes` of rendered pages.
    pub fn load(dir: &Path, base: &str, page_bytes: u64) -> Result<Snapshot> {
        let catalog = Catalog::load(dir, base)?;
        let templates = Templates::new(catalog.years(), catalog.stores().len());
        let pages = Pages::new(page_bytes);
        Ok(Snapshot { catalog: Arc::new(catalog), templates, coverage: coverage::Cache::default(), pages })
    }
}

/// A snapshot is read as its catalog; its caches are asked for by name.
impl Deref for Snapshot {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}
