//! What `tessera status` reports, as values: the registry's and each store's counts, and
//! every ordered pair's missing tiles. Bitmap counts only (microseconds each), plus the
//! parquet footers when looking for zero sizes.

use super::{Filter, Inventory, REGISTRY, Role, TileSet};
use crate::error::Result;
use crate::grid::{Bbox, Year};

/// The sync status of an inventory, over the whole grid or the tiles overlapping a box.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The box the counts are limited to; `None` for the whole grid.
    pub bbox: Option<Bbox>,
    /// The registry's tiles, when the inventory has a registry.
    pub registry: Option<Counts>,
    /// Each store, in config order.
    pub stores: Vec<StoreStatus>,
    /// What each target lacks of each source: the registry against every store, then every
    /// ordered pair of stores.
    pub missing: Vec<Missing>,
    /// Tiles with a zero `file_size` or `scales_size` (broken files), where any: the registry
    /// or a store, and how many. Looked for only over the whole grid (`bbox` is `None`).
    pub zero_size: Vec<(String, u64)>,
}

/// Tiles in all, and per year for every year of the inventory (zeros included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Tiles in all years.
    pub tiles: u64,
    /// `(year, tiles)` for every year of the inventory, in order.
    pub years: Vec<(Year, u64)>,
}

impl Counts {
    /// The years with at least one tile.
    pub fn nonempty_years(&self) -> Vec<Year> {
        self.years.iter().filter(|(_, n)| *n > 0).map(|(year, _)| *year).collect()
    }
}

/// One store's line of the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// The store's name.
    pub name: String,
    /// Primary or mirror.
    pub role: Role,
    /// The tiles it holds.
    pub counts: Counts,
    /// Tiles it holds that the registry does not list; `None` without a registry.
    pub not_in_registry: Option<u64>,
    /// When its manifest's listing was taken (ns since the Unix epoch), if a listing made it.
    pub listed_at: Option<i64>,
    /// Records (copies, removals) applied over that listing since.
    pub records_since: usize,
}

/// What `target` lacks of `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// A store, or [`REGISTRY`].
    pub source: String,
    /// A store.
    pub target: String,
    /// Tiles `source` holds and `target` does not.
    pub tiles: u64,
}

impl Inventory {
    /// The sync status over the whole grid, or over the tiles overlapping `bbox`.
    pub fn status(&self, bbox: Option<Bbox>) -> Result<Status> {
        let everywhere = Filter { years: Vec::new(), bbox };
        let counts = |tiles: &TileSet| -> Result<Counts> {
            let years = (self.years().iter())
                .map(|year| Ok((year, self.count(tiles, &Filter { years: vec![year], bbox })?)))
                .collect::<Result<_>>()?;
            Ok(Counts { tiles: self.count(tiles, &everywhere)?, years })
        };
        let mut stores = Vec::with_capacity(self.stores().len());
        for store in self.stores() {
            let name = &store.config.name;
            let state = self.store_state(name)?;
            stores.push(StoreStatus {
                name: name.clone(),
                role: store.config.role,
                counts: counts(&store.tiles)?,
                not_in_registry: self.extra_count(name, &everywhere)?,
                listed_at: state.provenance.listed_at,
                records_since: state.pending_count(),
            });
        }
        let names: Vec<&str> = self.stores().iter().map(|s| s.config.name.as_str()).collect();
        let registry_pairs = self.registry().map(|_| names.iter().map(|target| (REGISTRY, *target)));
        let store_pairs = names.iter().flat_map(|source| {
            names.iter().filter(move |target| *target != source).map(move |target| (*source, *target))
        });
        let missing = (registry_pairs.into_iter().flatten().chain(store_pairs))
            .map(|(source, target)| {
                let tiles = self.missing_count(source, target, &everywhere)?;
                Ok(Missing { source: source.to_owned(), target: target.to_owned(), tiles })
            })
            .collect::<Result<_>>()?;
        let registry = self.registry().map(counts).transpose()?;
        let zero_size = if bbox.is_none() { self.zero_sizes()? } else { Vec::new() };
        Ok(Status { bbox, registry, stores, missing, zero_size })
    }

    /// The registry's and each store's tiles with a zero size, where any.
    fn zero_sizes(&self) -> Result<Vec<(String, u64)>> {
        let names =
            (self.registry().map(|_| REGISTRY).into_iter()).chain(self.stores().iter().map(|s| s.config.name.as_str()));
        let mut found = Vec::new();
        for name in names {
            let tiles = self.zero_size_count(name)?;
            if tiles > 0 {
                found.push((name.to_owned(), tiles));
            }
        }
        Ok(found)
    }
}
