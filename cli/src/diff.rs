//! `tessera diff`: the tiles one store holds and another lacks, as keys or a copy list.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Result, anyhow};
use serde_json::json;
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::{Bbox, IdRange, TileId, push_merged};
use tessera_engine::inventory::{Filter, Inventory};
use tessera_engine::query::Query;
use tessera_engine::registry::{ReadOptions, RegistryTiles};
use tessera_engine::storage::CopyTool;

use crate::args::{CopyFormat, DiffArgs};
use crate::{open_inventory, pair};

pub fn run(inventory: &Path, args: &DiffArgs) -> Result<()> {
    let bbox = args.bbox.as_deref().map(Bbox::parse).transpose()?;
    let filter = Filter { years: args.year.clone(), bbox };
    let inventory: Inventory = open_inventory(inventory)?;
    let mut out = io::stdout().lock();
    if let Some(root) = &args.stac_url {
        // The names are checked as a diff checks them.
        inventory.missing_count(&args.source, &args.target, &filter)?;
        writeln!(out, "{}", stac_url(root, args)?)?;
        return Ok(out.flush()?);
    }
    if let Some(text) = &args.filter {
        let tiles = filtered(&inventory, args, &filter, text)?;
        return write_tiles(&inventory, args, &filter, &tiles, &mut out);
    }
    if args.count && !args.stale {
        // The count kernel: no ranges are built (66 us on the full demo, not 70).
        writeln!(out, "{}", inventory.missing_count(&args.source, &args.target, &filter)?)?;
        return Ok(out.flush()?);
    }
    let mut tiles = inventory.missing(&args.source, &args.target, &filter)?;
    if args.stale {
        tiles = union(&tiles, &inventory.stale(&args.source, &args.target, &filter)?);
    }
    write_tiles(&inventory, args, &filter, &tiles, &mut out)
}

/// Writes `tiles` as `args` asks: their count, a copy list, or keys.
fn write_tiles(
    inventory: &Inventory,
    args: &DiffArgs,
    filter: &Filter,
    tiles: &[IdRange],
    out: &mut impl Write,
) -> Result<()> {
    if args.count {
        writeln!(out, "{}", tiles.iter().map(|r| r.len()).sum::<u64>())?;
    } else if args.emit_copylist || args.format.is_some() {
        write_copylist(inventory, args, filter, tiles, out)?;
    } else {
        KeyWriter::new(inventory.years()).write_lines(tiles, KeyStyle::Key, out)?;
    }
    Ok(out.flush()?)
}

/// The STAC search at API root `root` that pages the gap `args` describes.
fn stac_url(root: &str, args: &DiffArgs) -> Result<String> {
    let source = (args.source != "registry").then_some(args.source.as_str());
    let gap = tessera_engine::stac::gap_filter(source, &args.target);
    let filter = match args.filter.as_deref().map(str::trim) {
        None => gap,
        Some(json) if json.starts_with('{') => {
            return Err(anyhow!("--stac-url writes CQL2-text: give --filter as CQL2-text, not JSON"));
        }
        Some(text) => format!("({gap}) AND ({text})"),
    };
    let path = tessera_engine::stac::search_path(&filter, &args.year, args.bbox.as_deref());
    Ok(format!("{}{path}", root.trim_end_matches('/')))
}

/// The missing (and, with --stale, stale) tiles that a CQL2 filter selects.
fn filtered(inventory: &Inventory, args: &DiffArgs, filter: &Filter, text: &str) -> Result<Vec<IdRange>> {
    let expr = crate::select::parse(text)?;
    let details = crate::select::details_if_asked(inventory, &expr)?;
    let plan = Query { filter: Some(expr), ..Query::default() }.plan(inventory, details.as_ref())?;
    let mut tiles = inventory.missing(&args.source, &args.target, filter)?;
    if args.stale {
        tiles = union(&tiles, &inventory.stale(&args.source, &args.target, filter)?);
    }
    let mut kept = Vec::new();
    for id in tiles.iter().flat_map(|range| range.lo..=range.hi) {
        if plan.matches(TileId(id)) {
            push_merged(&mut kept, IdRange { lo: id, hi: id });
        }
    }
    Ok(kept)
}

fn write_copylist(
    inventory: &Inventory,
    args: &DiffArgs,
    filter: &Filter,
    tiles: &[IdRange],
    out: &mut impl Write,
) -> Result<()> {
    let writer = KeyWriter::new(inventory.years());
    match args.format {
        Some(CopyFormat::Keys) => return Ok(writer.write_lines(tiles, KeyStyle::Key, out)?),
        Some(CopyFormat::Json) => return write_json(inventory, tiles, out),
        _ => {}
    }
    let (source, target) = pair::storages(inventory, &args.source, &args.target, filter)?;
    let tool = match args.format.and_then(CopyFormat::tool) {
        Some(tool) => {
            tool.check(&source, &target).map_err(|err| anyhow!("--format {}: {err}", tool.name()))?;
            tool
        }
        None => CopyTool::for_pair(&source, &target),
    };
    Ok(writer.write_for_tool(tiles, tool, &source, &target, out)?)
}

/// One JSON object per tile. Not a hot path: it reads the registry's hashes (about a second
/// for 3.8M tiles), then formats each line with serde.
fn write_json(inventory: &Inventory, tiles: &[IdRange], out: &mut impl Write) -> Result<()> {
    let registry = inventory.registry_tiles(ReadOptions { hashes: true })?;
    let mut out = io::BufWriter::new(out);
    for id in tiles.iter().flat_map(|range| range.lo..=range.hi) {
        let tile = inventory.years().tile(TileId(id))?;
        let at = registry.as_ref().and_then(|r| r.ids.binary_search(&TileId(id)).ok());
        let field = |pick: fn(&RegistryTiles, usize) -> Option<serde_json::Value>| {
            registry.as_ref().zip(at).and_then(|(registry, at)| pick(registry, at))
        };
        let line = json!({
            "key": tile.key().to_string(),
            "item_id": tile.item_id().to_string(),
            "bbox": tile.cell.footprint(),
            "file_size": field(|r, at| r.file_size.as_ref().map(|s| json!(s[at]))),
            "scales_size": field(|r, at| r.scales_size.as_ref().map(|s| json!(s[at]))),
            "hash": field(|r, at| r.hash.as_ref().map(|h| json!(hex(&h[at])))),
            "scales_hash": field(|r, at| r.scales_hash.as_ref().map(|h| json!(hex(&h[at])))),
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The union of two sorted range lists, sorted and merged.
pub(crate) fn union(a: &[IdRange], b: &[IdRange]) -> Vec<IdRange> {
    let mut all: Vec<IdRange> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let mut merged = Vec::with_capacity(all.len());
    for range in all {
        push_merged(&mut merged, range);
    }
    merged
}
