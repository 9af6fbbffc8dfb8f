//! `tessera check [STORE]`: problems visible in the manifests alone, without touching a store.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::IdRange;
use tessera_engine::inventory::Inventory;
use tessera_engine::manifest::ManifestRow;
use tessera_engine::registry::{ReadOptions, RegistryTiles};

use crate::args::{CheckArgs, ProblemKind};
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
    let registry = inventory.registry_tiles(ReadOptions::default())?;
    // With --list the keys own stdout, so the report moves to stderr.
    let mut report: Box<dyn Write> =
        if args.list.is_some() { Box::new(io::stderr().lock()) } else { Box::new(io::stdout().lock()) };
    let mut listed = Vec::new();
    writeln!(report, "=== Data Quality Check ===")?;
    let mut clean = true;
    for name in names {
        let rows = inventory.rows(&name)?;
        let problems = Problems::find(&rows, registry.as_ref());
        clean &= problems.is_clean(args.strict);
        problems.write(&inventory, &name, rows.len(), &mut report)?;
        if let Some(kind) = args.list {
            listed.extend_from_slice(problems.of_kind(kind));
        }
    }
    report.flush()?;
    if args.list.is_some() {
        listed.sort_unstable();
        listed.dedup();
        let ranges: Vec<IdRange> = listed.iter().map(|&id| IdRange { lo: id, hi: id }).collect();
        let mut out = io::stdout().lock();
        KeyWriter::new(inventory.years()).write_lines(&ranges, KeyStyle::Key, &mut out)?;
        out.flush()?;
    }
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

    /// Damage is a problem; tiles outside the registry only when `strict`; unknown sizes never
    /// (a bare listing cannot show sizes).
    fn is_clean(&self, strict: bool) -> bool {
        self.zero_size.is_empty() && self.differs.is_empty() && (!strict || self.not_in_registry.is_empty())
    }

    fn of_kind(&self, kind: ProblemKind) -> &[u32] {
        match kind {
            ProblemKind::ZeroSize => &self.zero_size,
            ProblemKind::Differs => &self.differs,
            ProblemKind::NotInRegistry => &self.not_in_registry,
            ProblemKind::UnknownSize => &self.unknown_size,
        }
    }

    fn write(&self, inventory: &Inventory, name: &str, tiles: usize, out: &mut impl Write) -> io::Result<()> {
        let nothing = [&self.zero_size, &self.differs, &self.not_in_registry, &self.unknown_size];
        if nothing.iter().all(|ids| ids.is_empty()) {
            return writeln!(out, "  {name}: OK ({tiles} tiles, no issues)");
        }
        writeln!(out, "  {name}: {tiles} tiles")?;
        let writer = KeyWriter::new(inventory.years());
        for (what, kind) in [
            ("with a zero-size file", ProblemKind::ZeroSize),
            ("with sizes that differ from the registry", ProblemKind::Differs),
            ("that the registry does not list (a warning; --strict fails on them)", ProblemKind::NotInRegistry),
            ("with unknown sizes (listed without sizes)", ProblemKind::UnknownSize),
        ] {
            let ids = self.of_kind(kind);
            if ids.is_empty() {
                continue;
            }
            let mut examples = Vec::new();
            for &id in ids.iter().take(EXAMPLES) {
                writer.push(&mut examples, id, KeyStyle::Key);
                examples.push(b' ');
            }
            let more = match ids.len() > EXAMPLES {
                true => format!(
                    " ... (--list {} prints them all)",
                    kind.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
                ),
                false => String::new(),
            };
            writeln!(out, "    {} tiles {what}: {}{more}", ids.len(), String::from_utf8_lossy(&examples).trim_end())?;
        }
        Ok(())
    }
}
