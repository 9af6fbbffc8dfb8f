//! `tessera status`: the registry, each store, and every ordered pair's missing tiles.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value, json};
use tessera_engine::bitmap::kernels;
use tessera_engine::grid::Year;
use tessera_engine::inventory::{Inventory, TileSet};

use crate::args::StatusArgs;
use crate::open_inventory;

/// The figures of one report, computed once for the text and the JSON.
struct Report {
    registry: Option<Counts>,
    stores: Vec<StoreReport>,
    /// `(source, target, missing)` for every ordered pair of stores.
    missing: Vec<(String, String, u64)>,
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
}

pub fn run(dir: &Path, args: &StatusArgs) -> Result<()> {
    let inventory = open_inventory(dir)?;
    let report = Report::compute(&inventory);
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
    fn compute(inventory: &Inventory) -> Report {
        let counts = |tiles: &TileSet| Counts { tiles: tiles.cardinality(), years: inventory.year_counts(tiles) };
        let registry = inventory.registry();
        let stores = inventory
            .stores()
            .iter()
            .map(|store| StoreReport {
                name: store.config.name.clone(),
                role: store.config.role.as_str(),
                counts: counts(&store.tiles),
                extra: registry.map(|registry| kernels::andnot_count(&store.tiles, registry)),
            })
            .collect();
        let mut missing = Vec::new();
        for source in inventory.stores() {
            for target in inventory.stores().iter().filter(|t| t.config.name != source.config.name) {
                let tiles = kernels::andnot_count(&source.tiles, &target.tiles);
                missing.push((source.config.name.clone(), target.config.name.clone(), tiles));
            }
        }
        Report { registry: registry.map(counts), stores, missing }
    }

    fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "=== GeoTessera Sync Status ===\n")?;
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
            writeln!(out, "  {:<15} {:>9} tiles  ({}{extra})", store.name, store.counts.tiles, store.role)?;
        }
        writeln!(out, "\nPairwise diffs (missing from target):")?;
        let pairs: Vec<_> = self.missing.iter().filter(|(_, _, n)| *n > 0).collect();
        if pairs.is_empty() {
            writeln!(out, "  none: every store holds every tile of every other store")?;
        }
        for (source, target, tiles) in pairs {
            writeln!(out, "  {source} -> {target}: {tiles} missing")?;
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
                })
            })
            .collect();
        let missing: Vec<Value> =
            self.missing.iter().map(|(s, t, n)| json!({ "source": s, "target": t, "tiles": n })).collect();
        json!({ "registry": registry, "stores": stores, "missing": missing })
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
