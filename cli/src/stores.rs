//! `tessera import` and `tessera stores`: the registry and the store list of an inventory.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use tessera_engine::fsutil;
use tessera_engine::inventory::{Config, REGISTRY_FILE};
use tessera_engine::registry::{self, ReadOptions};

use crate::args::{ImportArgs, StoresArgs};
use crate::open_inventory;

pub fn import(dir: &Path, args: &ImportArgs) -> Result<()> {
    let config = open_inventory(dir)?.config().clone();
    let (tiles, report) = registry::read_registry(&args.registry, config.years, ReadOptions::default())?;
    for warning in report.warnings() {
        eprintln!("tessera: note: {warning}");
    }
    let target = dir.join(REGISTRY_FILE);
    fsutil::replace_atomically(&target, |out| {
        let mut source = File::open(&args.registry).map_err(tessera_engine::Error::io("opening", &args.registry))?;
        io::copy(&mut source, out).map_err(tessera_engine::Error::io("copying", &args.registry))?;
        Ok(())
    })
    .with_context(|| format!("cannot import {}", args.registry.display()))?;
    let inventory = open_inventory(dir)?;
    let years = registry_years(&config, inventory.registry().map(|r| inventory.year_counts(r)).unwrap_or_default());
    eprintln!("tessera: imported {} tiles ({years}) into {}", tiles.len(), target.display());
    Ok(())
}

fn registry_years(config: &Config, counts: Vec<(u16, u64)>) -> String {
    let years: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(year, _)| year.to_string()).collect();
    if years.is_empty() { format!("no tiles in {}", config.years) } else { format!("years {}", years.join(", ")) }
}

pub fn list(dir: &Path, args: &StoresArgs) -> Result<()> {
    let inventory = open_inventory(dir)?;
    let mut out = io::stdout().lock();
    if args.json {
        let stores: Vec<_> = inventory
            .stores()
            .iter()
            .map(|s| {
                json!({
                    "name": s.config.name, "role": s.config.role.as_str(), "storage": s.config.storage,
                    "public_url": s.config.public_url, "tiles": s.tiles.cardinality(), "has_manifest": s.has_manifest,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &stores)?;
        writeln!(out)?;
    } else {
        for s in inventory.stores() {
            let role = s.config.role.as_str();
            writeln!(
                out,
                "{:<15} {:<8} {:>9} tiles  {}  {}",
                s.config.name,
                role,
                s.tiles.cardinality(),
                s.config.storage,
                s.config.public_url
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
