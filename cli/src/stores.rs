//! `tessera import`, `tessera ingest` and `tessera stores`: the registry, a store's manifest from
//! someone else's parquet, and the store list of an inventory.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use tessera_engine::inventory::{self, Config, Inventory, REGISTRY};
use tessera_engine::journal;
use tessera_engine::manifest::{self, ManifestRow};
use tessera_engine::store::{Listing, Scope, Taken};

use crate::args::{ImportArgs, IngestArgs, StoresArgs};
use crate::open_inventory;

pub fn import(dir: &Path, args: &ImportArgs) -> Result<()> {
    let imported = inventory::import_registry(dir, &args.registry)
        .with_context(|| format!("cannot import {}", args.registry.display()))?;
    for warning in imported.report.warnings() {
        eprintln!("tessera: note: {warning}");
    }
    if let Some(years) = imported.extended {
        eprintln!("tessera: note: the registry runs to {}: the inventory's years are now {years}", years.last());
    }
    let inventory = open_inventory(dir)?;
    // The per-tile sizes and hashes, built now by the writer, so that a server on a read-only
    // mount of this inventory finds them rather than rebuilding them in memory at each start.
    inventory.registry_details().context("cannot index the registry's sizes and hashes")?;
    let config = inventory.config();
    let years = registry_years(config, inventory.registry().map(|r| inventory.year_counts(r)).unwrap_or_default());
    eprintln!("tessera: imported {} tiles ({years}) into {}", imported.tiles, inventory.registry_path().display());
    Ok(())
}

fn registry_years(config: &Config, counts: Vec<(u16, u64)>) -> String {
    let years: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(year, _)| year.to_string()).collect();
    if years.is_empty() { format!("no tiles in {}", config.years) } else { format!("years {}", years.join(", ")) }
}

/// `tessera ingest STORE FILE`: a store's manifest from a parquet file someone else wrote.
pub fn ingest(dir: &Path, args: &IngestArgs) -> Result<()> {
    let mut inventory = open_inventory(dir)?;
    let store = inventory.store(&args.store)?.config.name.clone();
    // Taken before the file is read: records from here on are kept over what it says.
    let started_after = inventory.journal_end(&store)?;
    let (rows, report) = manifest::read_manifest(&args.manifest, inventory.years())
        .with_context(|| format!("cannot ingest {} into {store}", args.manifest.display()))?;
    for warning in report.warnings() {
        eprintln!("tessera: note: {warning}");
    }
    let (unlisted, differ) = against_registry(&inventory, &rows)?;
    let listing = Listing {
        rows: &rows,
        scope: &Scope::default(),
        started_after,
        taken: Taken::ByTheScan(journal::now_ns()),
        merge: false,
    };
    inventory.replace(&store, &listing)?;
    let mut notes = Vec::new();
    if let Some(unlisted) = unlisted.filter(|n| *n > 0) {
        notes.push(format!("{unlisted} the registry does not list"));
    }
    if differ > 0 {
        notes.push(format!("{differ} with sizes that differ from the registry"));
    }
    let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
    eprintln!("tessera: ingested {} tiles into {store} from {}{notes}", rows.len(), args.manifest.display());
    Ok(())
}

/// Tiles of `rows` the registry does not list (`None` without a registry), and tiles whose
/// known sizes differ from the registry's.
fn against_registry(inventory: &Inventory, rows: &[ManifestRow]) -> Result<(Option<u64>, u64)> {
    if inventory.registry().is_none() {
        return Ok((None, 0));
    }
    let registry = inventory.rows(REGISTRY)?;
    let (mut unlisted, mut differ, mut next) = (0, 0, 0);
    for row in rows {
        next += registry[next..].partition_point(|r| r.id < row.id);
        let Some(listed) = registry.get(next).filter(|r| r.id == row.id) else {
            unlisted += 1;
            continue;
        };
        let differs = |a: Option<u64>, b: Option<u64>| matches!((a, b), (Some(a), Some(b)) if a != b);
        if differs(row.file_size, listed.file_size) || differs(row.scales_size, listed.scales_size) {
            differ += 1;
        }
    }
    Ok((Some(unlisted), differ))
}

pub fn list(dir: &Path, args: &StoresArgs) -> Result<()> {
    let inventory = open_inventory(dir)?;
    let mut out = io::stdout().lock();
    if args.json {
        let stores: Vec<_> = inventory
            .stores()
            .iter()
            .map(|s| {
                let state = inventory.store_state(&s.config.name).ok();
                json!({
                    "name": s.config.name, "role": s.config.role.as_str(), "storage": s.config.storage,
                    "public_url": s.config.public_url, "tiles": s.tiles.cardinality(), "has_manifest": s.has_manifest,
                    "listed_at": state.as_ref().and_then(|st| st.provenance.listed_at).map(crate::time::utc_rfc3339),
                    "records_since": state.as_ref().map(|st| st.pending_count()),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &stores)?;
        writeln!(out)?;
    } else {
        for s in inventory.stores() {
            let role = s.config.role.as_str();
            let state = inventory.store_state(&s.config.name)?;
            let listed = state
                .provenance
                .listed_at
                .map_or("never listed".to_owned(), |at| format!("listed {}", crate::time::utc_minutes(at)));
            writeln!(
                out,
                "{:<15} {:<8} {:>9} tiles  {}  {}  ({listed}, {} records since)",
                s.config.name,
                role,
                s.tiles.cardinality(),
                s.config.storage,
                s.config.public_url,
                state.pending_count()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
