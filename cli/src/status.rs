//! `tessera status`: the registry, each store, and every ordered pair's missing tiles.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value, json};
use tessera_engine::grid::{Bbox, Year};
use tessera_engine::inventory::{Filter, Inventory, REGISTRY, TileSet};

use crate::args::StatusArgs;
use crate::open_inventory;

/// The figures of one report, computed once for the text and the JSON.
struct Report {
    /// The box the counts are limited to.
    bbox: Option<Bbox>,
    registry: Option<Counts>,
    stores: Vec<StoreReport>,
    /// `(source, target, missing)` for the registry and each store, then every ordered pair
    /// of stores.
    missing: Vec<(String, String, u64)>,
    /// Tiles with a zero `file_size` or `scales_size`, where any: `(registry or store, tiles)`.
    zero_size: Vec<(String, u64)>,
}

struct Counts {
    tiles: u64,
    years: Vec<(Year, u64)>,
}

struct StoreReport {
    name: String,
    role: &'static str,
    counts: Counts,
    /// Tiles the store holds that the registry does not list.
    extra: Option<u64>,
    /// When its manifest's listing was taken (ns since the epoch), if a listing made it.
    listed_at: Option<i64>,
    /// Records applied over that manifest since.
    records_since: usize,
}

pub fn run(dir: &Path, args: &StatusArgs) -> Result<()> {
    let bbox = args.bbox.as_deref().map(Bbox::parse).transpose()?;
    let inventory = open_inventory(dir)?;
    let report = Report::compute(&inventory, bbox)?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report.to_json())?;
        writeln!(out)?;
    } else {
        report.write_text(&mut out)?;
    }
    out.flush()?;
    Ok(())
}

impl Report {
    /// The figures for the whole grid, or for the tiles that overlap `bbox`.
    fn compute(inventory: &Inventory, bbox: Option<Bbox>) -> Result<Report> {
        let everywhere = Filter { years: Vec::new(), bbox };
        let counts = |tiles: &TileSet| -> Result<Counts> {
            let years = inventory
                .years()
                .iter()
                .map(|year| Ok((year, inventory.count(tiles, &Filter { years: vec![year], bbox })?)))
                .collect::<Result<_>>()?;
            Ok(Counts { tiles: inventory.count(tiles, &everywhere)?, years })
        };
        let mut stores = Vec::new();
        for store in inventory.stores() {
            let name = &store.config.name;
            let extra = inventory.extra_count(name, &everywhere)?;
            let state = inventory.store_state(name)?;
            stores.push(StoreReport {
                name: name.clone(),
                role: store.config.role.as_str(),
                counts: counts(&store.tiles)?,
                extra,
                listed_at: state.provenance.listed_at,
                records_since: state.pending_count(),
            });
        }
        let mut missing = Vec::new();
        if inventory.registry().is_some() {
            for target in inventory.stores() {
                let target = &target.config.name;
                missing.push((
                    REGISTRY.to_owned(),
                    target.clone(),
                    inventory.missing_count(REGISTRY, target, &everywhere)?,
                ));
            }
        }
        for source in inventory.stores() {
            for target in inventory.stores().iter().filter(|t| t.config.name != source.config.name) {
                let (source, target) = (&source.config.name, &target.config.name);
                missing.push((source.clone(), target.clone(), inventory.missing_count(source, target, &everywhere)?));
            }
        }
        let registry = inventory.registry().map(counts).transpose()?;
        let zero_size = if bbox.is_none() { zero_sizes(inventory)? } else { Vec::new() };
        Ok(Report { bbox, registry, stores, missing, zero_size })
    }

    fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "=== GeoTessera Sync Status ===\n")?;
        if let Some(bbox) = &self.bbox {
            writeln!(out, "Only tiles overlapping {bbox} (west,south,east,north)\n")?;
        }
        match &self.registry {
            Some(registry) => {
                let years = registry.nonempty_years();
                writeln!(out, "Registry: {} tiles across {} year(s)", registry.tiles, years.len())?;
                let years: Vec<String> = years.iter().map(Year::to_string).collect();
                writeln!(out, "Years: {}\n", years.join(", "))?;
            }
            None => writeln!(out, "Registry: none (import one with `tessera import`)\n")?,
        }
        writeln!(out, "Stores:")?;
        for store in &self.stores {
            let extra = match store.extra {
                Some(extra) if extra > 0 => format!(", {extra} not in the registry"),
                _ => String::new(),
            };
            writeln!(
                out,
                "  {:<15} {:>9} tiles  ({}{extra}){}",
                store.name,
                store.counts.tiles,
                store.role,
                store.freshness()
            )?;
        }
        writeln!(out, "\nPairwise diffs (missing from target):")?;
        let pairs: Vec<_> = self.missing.iter().filter(|(_, _, n)| *n > 0).collect();
        if pairs.is_empty() {
            writeln!(out, "  none: every store holds every tile of every other store")?;
        }
        for (source, target, tiles) in pairs {
            writeln!(out, "  {source} -> {target}: {tiles} missing")?;
        }
        if !self.zero_size.is_empty() {
            let total: u64 = self.zero_size.iter().map(|(_, n)| n).sum();
            let each: Vec<String> = self.zero_size.iter().map(|(name, n)| format!("{n} in {name}")).collect();
            writeln!(
                out,
                "\nWarning: {total} tiles with a zero file_size or scales_size ({}); run `tessera check` for details",
                each.join(", ")
            )?;
        }
        self.write_year_table(out)
    }

    fn write_year_table(&self, out: &mut impl Write) -> io::Result<()> {
        write!(out, "\nPer year:\n  {:<6}", "year")?;
        let columns: Vec<(&str, &Counts)> = self
            .registry
            .iter()
            .map(|r| ("registry", r))
            .chain(self.stores.iter().map(|s| (s.name.as_str(), &s.counts)))
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

    fn to_json(&self) -> Value {
        let registry = self
            .registry
            .as_ref()
            .map(|r| json!({ "tiles": r.tiles, "years": r.nonempty_years(), "per_year": r.year_map() }));
        let stores: Vec<Value> = self
            .stores
            .iter()
            .map(|s| {
                json!({
                    "name": s.name, "role": s.role, "tiles": s.counts.tiles,
                    "years": s.counts.year_map(), "not_in_registry": s.extra,
                    "listed_at": s.listed_at.map(crate::time::utc_rfc3339), "records_since": s.records_since,
                })
            })
            .collect();
        let missing: Vec<Value> =
            self.missing.iter().map(|(s, t, n)| json!({ "source": s, "target": t, "tiles": n })).collect();
        let zero_size: Map<String, Value> = self.zero_size.iter().map(|(name, n)| (name.clone(), json!(n))).collect();
        json!({
            "bbox": self.bbox.map(|b| b.to_string()), "registry": registry, "stores": stores, "missing": missing,
            "zero_size": zero_size,
        })
    }
}

/// The registry's and each store's tiles with a zero size, where any (from the parquet
/// statistics when they rule zeros out, which is the usual case and costs no column read).
fn zero_sizes(inventory: &Inventory) -> Result<Vec<(String, u64)>> {
    let names = inventory
        .registry()
        .map(|_| REGISTRY)
        .into_iter()
        .chain(inventory.stores().iter().map(|s| s.config.name.as_str()));
    let mut found = Vec::new();
    for name in names {
        let tiles = inventory.zero_size_count(name)?;
        if tiles > 0 {
            found.push((name.to_owned(), tiles));
        }
    }
    Ok(found)
}

impl StoreReport {
    /// `  listed 2026-11-29 03:00 UTC, 12 records since`, as far as known.
    fn freshness(&self) -> String {
        let mut parts = Vec::new();
        if let Some(at) = self.listed_at {
            parts.push(format!("listed {}", crate::time::utc_minutes(at)));
        }
        if self.records_since > 0 {
            parts.push(format!("{} records since", self.records_since));
        }
        if parts.is_empty() { String::new() } else { format!("  {}", parts.join(", ")) }
    }
}

impl Counts {
    fn nonempty_years(&self) -> Vec<Year> {
        self.years.iter().filter(|(_, n)| *n > 0).map(|(year, _)| *year).collect()
    }

    fn year_map(&self) -> Map<String, Value> {
        self.years.iter().map(|(year, n)| (year.to_string(), json!(n))).collect()
    }
}
