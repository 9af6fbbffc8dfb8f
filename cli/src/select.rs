//! `tessera select`: the registry's tiles a CQL2 filter selects, planned by the engine.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::details::Details;
use tessera_engine::grid::{IdRange, push_merged};
use tessera_engine::inventory::Inventory;
use tessera_engine::query::{self, Expr, Query};

use crate::args::SelectArgs;
use crate::open_inventory;

pub fn run(inventory: &Path, args: &SelectArgs) -> Result<()> {
    let filter = parse(&args.filter)?;
    let inventory: Inventory = open_inventory(inventory)?;
    let details = details_if_asked(&inventory, &filter)?;
    let plan = Query { filter: Some(filter), ..Query::default() }.plan(&inventory, details.as_ref())?;
    let mut out = io::stdout().lock();
    if args.count {
        writeln!(out, "{}", plan.count(&mut || true)?)?;
        return Ok(out.flush()?);
    }
    let mut ranges: Vec<IdRange> = Vec::new();
    for tile in plan.forward(None, usize::MAX, &mut || true)? {
        push_merged(&mut ranges, IdRange { lo: tile.0, hi: tile.0 });
    }
    let style = if args.ids { KeyStyle::ItemId } else { KeyStyle::Key };
    KeyWriter::new(inventory.years()).write_lines(&ranges, style, &mut out)?;
    Ok(out.flush()?)
}

/// A filter as the command line gives it: CQL2-JSON when it starts with `{`, else CQL2-text.
pub fn parse(filter: &str) -> Result<Expr> {
    Ok(match filter.trim_start().starts_with('{') {
        true => query::parse_json(filter)?,
        false => query::parse_text(filter)?,
    })
}

/// The registry's sizes, read only when the filter asks about them (`tessera:bytes`).
pub fn details_if_asked(inventory: &Inventory, filter: &Expr) -> Result<Option<Details>> {
    let asks = filter.to_json().is_ok_and(|json| json.contains("\"tessera:bytes\""));
    if !asks || inventory.registry().is_none() {
        return Ok(None);
    }
    Ok(Some(inventory.registry_details()?.0))
}
