//! `tessera check [STORE]`: problems visible in the manifests alone, without touching a store.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::inventory::{Inventory, REGISTRY_FILE, StoreFiles};
use tessera_engine::manifest::ManifestRow;
use tessera_engine::registry::{self, ReadOptions, RegistryTiles};

use crate::args::CheckArgs;
use crate::open_inventory;

/// Offending tiles shown per kind of problem.
const EXAMPLES: usize = 10;

/// Returns whether every checked store is clean.
pub fn run(dir: &Path, args: &CheckArgs) -> Result<bool> {
    let inventory = open_inventory(dir)?;
    let names: Vec<String> = match &args.store {
        Some(name) => vec![inventory.store(name)?.config.name.clone()],
        None => inventory.stores().iter().map(|s| s.config.name.clone()).collect(),
    };
    let path = inventory.dir().join(REGISTRY_FILE);
    let registry = if path.exists() {
        Some(registry::read_registry(&path, inventory.years(), ReadOptions::default())?.0)
    } else {
        None
    };
    let mut out = io::stdout().lock();
    writeln!(out, "=== Data Quality Check ===")?;
    let mut clean = true;
    for name in names {
        let rows = StoreFiles::new(inventory.dir(), &name).read_rows(inventory.years())?;
        let problems = Problems::find(&rows, registry.as_ref());
        clean &= problems.is_empty();
        problems.write(&inventory, &name, rows.len(), &mut out)?;
    }
    out.flush()?;
    Ok(clean)
}

#[derive(Default)]
struct Problems {
    zero_size: Vec<u32>,
    unknown_size: Vec<u32>,
    differs: Vec<u32>,
    not_in_registry: Vec<u32>,
}

impl Problems {
    fn find(rows: &[ManifestRow], registry: Option<&RegistryTiles>) -> Problems {
        let mut problems = Problems::default();
        for row in rows {
            let id = row.id.0;
            if row.file_size == Some(0) || row.scales_size == Some(0) {
                problems.zero_size.push(id);
            } else if row.file_size.is_none() || row.scales_size.is_none() {
                problems.unknown_size.push(id);
            }
            let Some(registry) = registry else { continue };
            match registry.ids.binary_search(&row.id) {
                Err(_) => problems.not_in_registry.push(id),
                Ok(at) => {
                    let differs = |seen: Option<u64>, sizes: &Option<Vec<u64>>| matches!((seen, sizes), (Some(seen), Some(sizes)) if sizes[at] != seen);
                    if differs(row.file_size, &registry.file_size) || differs(row.scales_size, &registry.scales_size) {
                        problems.differs.push(id);
                    }
                }
            }
        }
        problems
    }

    /// Unknown sizes are reported but are not a problem: a bare listing cannot show sizes.
    fn is_empty(&self) -> bool {
        self.zero_size.is_empty() && self.differs.is_empty() && self.not_in_registry.is_empty()
    }

    fn write(&self, inventory: &Inventory, name: &str, tiles: usize, out: &mut impl Write) -> io::Result<()> {
        if self.is_empty() && self.unknown_size.is_empty() {
            return writeln!(out, "  {name}: OK ({tiles} tiles, no issues)");
        }
        writeln!(out, "  {name}: {tiles} tiles")?;
        let writer = KeyWriter::new(inventory.years());
        for (what, ids) in [
            ("with a zero-size file", &self.zero_size),
            ("with sizes that differ from the registry", &self.differs),
            ("that the registry does not list", &self.not_in_registry),
            ("with unknown sizes (listed without sizes)", &self.unknown_size),
        ] {
            if ids.is_empty() {
                continue;
            }
            let mut examples = Vec::new();
            for &id in ids.iter().take(EXAMPLES) {
                writer.push(&mut examples, id, KeyStyle::Key);
                examples.push(b' ');
            }
            let more = if ids.len() > EXAMPLES { "..." } else { "" };
            writeln!(out, "    {} tiles {what}: {}{more}", ids.len(), String::from_utf8_lossy(&examples).trim_end())?;
        }
        Ok(())
    }
}
