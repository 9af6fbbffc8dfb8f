//! Queries: what a search, a count, a diff or an aggregation asks of an inventory (years, a box
//! or a geometry, item ids and a CQL2 filter) compiled into a [`Plan`] and answered as set
//! algebra over the stores' bitmaps.
//!
//! A filter is parsed by the `cql2` crate ([`parse_text`], [`parse_json`]) and compiled against
//! the inventory's [`queryables`]: store membership (`a_contains("tessera:stores", 'scaleway')`),
//! places (`s_intersects(geometry, ...)`), years (any comparison or temporal function on
//! `datetime`, `year` or `collection`, decided year by year by the crate's own evaluator) and
//! tile ids (`id IN (...)`, `"grid:code" = ...`) become sets; `NOT`, `AND` and `OR` become set
//! operations. What cannot be a set (a `LIKE` on an id, a comparison on `tessera:bytes`) is a
//! per-tile test, run only on the tiles the set part lets through. The plan is evaluated one
//! Roaring key (65,536 ids) at a time as plain bitsets ([`crate::bitmap::block::Block`]), so a
//! page reads only the keys it needs and a count or an aggregation reads each key once.
//!
//! ```no_run
//! use tessera_engine::Inventory;
//! use tessera_engine::query::{self, Query};
//!
//! let inventory = Inventory::open("inventory")?;
//! let filter = query::parse_text("NOT a_contains(\"tessera:stores\", 'scaleway') AND year = 2024")?;
//! let plan = Query { filter: Some(filter), ..Query::default() }.plan(&inventory, None)?;
//! println!("{} tiles", plan.count(&mut || true)?);
//! # Ok::<(), tessera_engine::Error>(())
//! ```

mod compile;
mod eval;
pub mod geometry;
mod queryables;

pub use cql2::Expr;
pub use eval::{AggregateBy, Aggregates, CellCounts, Plan};
pub use queryables::{Named, Queryable, YEAR_PROPERTIES, queryables};

use crate::details::Details;
use crate::error::{Error, Result};
use crate::grid::{Bbox, TileId, Year};
use crate::inventory::Inventory;

/// The longest CQL2 text (or JSON) accepted: far more than any hand-written filter, and small
/// enough that parsing it stays in the milliseconds.
pub const MAX_FILTER_BYTES: usize = 256 * 1024;
/// The deepest nesting of parentheses, brackets or braces accepted in a filter.
pub const MAX_FILTER_DEPTH: usize = 64;

/// Where a query looks: a box, or the cells of a rasterised geometry.
#[derive(Debug, Clone, PartialEq)]
pub enum Area {
    /// Tiles whose footprint overlaps the box.
    Bbox(Bbox),
    /// The cells a geometry touches ([`geometry::rasterise`]).
    Cells(geometry::Spans),
}

/// What a query asks, before it is planned.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only these years; `None` means every year of the inventory.
    pub years: Option<Vec<Year>>,
    /// Only tiles in this area.
    pub area: Option<Area>,
    /// Only these tiles.
    pub ids: Option<Vec<TileId>>,
    /// A CQL2 filter.
    pub filter: Option<Expr>,
    /// Years newest first (ids ascending within a year either way).
    pub descending: bool,
}

impl Query {
    /// Compiles the query against `inventory`; `details` (the registry's sizes) answer
    /// `tessera:bytes` tests, which match nothing without them.
    pub fn plan<'i>(&self, inventory: &'i Inventory, details: Option<&'i Details>) -> Result<Plan<'i>> {
        Plan::new(inventory, details, self)
    }
}

/// Parses a CQL2-text filter, refusing one too long or too deeply nested to be worth parsing.
pub fn parse_text(text: &str) -> Result<Expr> {
    check_size(text)?;
    cql2::parse_text(text).map_err(|err| bad(format!("the filter is not valid CQL2-text: {err}")))
}

/// Parses a CQL2-JSON filter (the JSON text of one expression), with the same limits.
pub fn parse_json(text: &str) -> Result<Expr> {
    check_size(text)?;
    cql2::parse_json(text).map_err(|err| bad(format!("the filter is not valid CQL2-JSON: {err}")))
}

fn check_size(text: &str) -> Result<()> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(bad(format!("the filter is {} bytes; at most {MAX_FILTER_BYTES} are accepted", text.len())));
    }
    // Quoted text may hold any bracket: only those outside quotes nest.
    let (mut depth, mut quote, mut escaped) = (0usize, None, false);
    for byte in text.bytes() {
        match (quote, byte) {
            (Some(_), _) if escaped => escaped = false,
            (Some(b'"'), b'\\') => escaped = true,
            (Some(open), _) if byte == open => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(byte),
            (None, b'(' | b'[' | b'{') => {
                depth += 1;
                if depth > MAX_FILTER_DEPTH {
                    return Err(bad(format!("the filter nests deeper than {MAX_FILTER_DEPTH} levels")));
                }
            }
            (None, b')' | b']' | b'}') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
    }
    Ok(())
}

fn bad(message: String) -> Error {
    Error::BadQuery { message }
}
