//! `tessera status`: the registry, each store, and every ordered pair's missing tiles.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value, json};
use tessera_engine::grid::{Bbox, Year};
use tessera_engine::inventory::{Counts, Missing, Status, StoreStatus};

use crate::args::StatusArgs;
use crate::open_inventory;

pub fn run(dir: &Path, args: &StatusArgs) -> Result<()> {
    let bbox = args.bbox.as_deref().map(Bbox::parse).transpose()?;
    let status = open_inventory(dir)?.status(bbox)?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &to_json(&status))?;
        writeln!(out)?;
    } else {
        write_text(&status, &mut out)?;
    }
    out.flush()?;
    Ok(())
}

fn write_text(status: &Status, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "=== GeoTessera Sync Status ===\n")?;
    if let Some(bbox) = &status.bbox {
        writeln!(out, "Only tiles overlapping {bbox} (west,south,east,north)\n")?;
    }
    match &status.registry {
        Some(registry) => {
            let years = registry.nonempty_years();
            writeln!(out, "Registry: {} tiles across {} year(s)", registry.tiles, years.len())?;
            let years: Vec<String> = years.iter().map(Year::to_string).collect();
            writeln!(out, "Years: {}\n", years.join(", "))?;
        }
        None => writeln!(out, "Registry: none (import one with `tessera import`)\n")?,
    }
    writeln!(out, "Stores:")?;
    for store in &status.stores {
        let extra = match store.not_in_registry {
            Some(extra) if extra > 0 => format!(", {extra} not in the registry"),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {:<15} {:>9} tiles  ({}{extra}){}",
            store.name,
            store.counts.tiles,
            store.role.as_str(),
            freshness(store)
        )?;
    }
    writeln!(out, "\nPairwise diffs (missing from target):")?;
    let pairs: Vec<_> = status.missing.iter().filter(|pair| pair.tiles > 0).collect();
    if pairs.is_empty() {
        writeln!(out, "  none: every store holds every tile of every other store")?;
    }
    for Missing { source, target, tiles } in pairs {
        writeln!(out, "  {source} -> {target}: {tiles} missing")?;
    }
    if !status.zero_size.is_empty() {
        let total: u64 = status.zero_size.iter().map(|(_, n)| n).sum();
        let each: Vec<String> = status.zero_size.iter().map(|(name, n)| format!("{n} in {name}")).collect();
        writeln!(
            out,
            "\nWarning: {total} tiles with a zero file_size or scales_size ({}); run `tessera check` for details",
            each.join(", ")
        )?;
    }
    write_year_table(status, out)
}

fn write_year_table(status: &Status, out: &mut impl Write) -> io::Result<()> {
    write!(out, "\nPer year:\n  {:<6}", "year")?;
    let columns: Vec<(&str, &Counts)> = status
        .registry
        .iter()
        .map(|r| ("registry", r))
        .chain(status.stores.iter().map(|s| (s.name.as_str(), &s.counts)))
        .collect();
    for (name, _) in &columns {
        write!(out, " {name:>12}")?;
    }
    writeln!(out)?;
    let years = columns.first().map(|(_, counts)| counts.years.len()).unwrap_or(0);
    for row in 0..years {
        write!(out, "  {:<6}", columns[0].1.years[row].0)?;
        for (_, counts) in &columns {
            write!(out, " {:>12}", counts.years[row].1)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn to_json(status: &Status) -> Value {
    let registry = status
        .registry
        .as_ref()
        .map(|r| json!({ "tiles": r.tiles, "years": r.nonempty_years(), "per_year": year_map(r) }));
    let stores: Vec<Value> = status
        .stores
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "role": s.role.as_str(), "tiles": s.counts.tiles,
                "years": year_map(&s.counts), "not_in_registry": s.not_in_registry,
                "listed_at": s.listed_at.map(crate::time::utc_rfc3339), "records_since": s.records_since,
            })
        })
        .collect();
    let missing: Vec<Value> =
        status.missing.iter().map(|m| json!({ "source": m.source, "target": m.target, "tiles": m.tiles })).collect();
    let zero_size: Map<String, Value> = status.zero_size.iter().map(|(name, n)| (name.clone(), json!(n))).collect();
    json!({
        "bbox": status.bbox.map(|b| b.to_string()), "registry": registry, "stores": stores, "missing": missing,
        "zero_size": zero_size,
    })
}

/// `  listed 2026-11-29 03:00 UTC, 12 records since`, as far as known.
fn freshness(store: &StoreStatus) -> String {
    let mut parts = Vec::new();
    if let Some(at) = store.listed_at {
        parts.push(format!("listed {}", crate::time::utc_minutes(at)));
    }
    if store.records_since > 0 {
        parts.push(format!("{} records since", store.records_since));
    }
    if parts.is_empty() { String::new() } else { format!("  {}", parts.join(", ")) }
}

fn year_map(counts: &Counts) -> Map<String, Value> {
    counts.years.iter().map(|(year, n)| (year.to_string(), json!(n))).collect()
}
