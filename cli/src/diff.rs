//! `tessera diff`: the tiles one store holds and another lacks.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Result;
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::Bbox;
use tessera_engine::inventory::{Filter, Inventory};

use crate::args::DiffArgs;
use crate::status::open_inventory;

pub fn run(inventory: &Path, args: &DiffArgs) -> Result<()> {
    let bbox = args.bbox.as_deref().map(Bbox::parse).transpose()?;
    let filter = Filter { years: args.year.clone(), bbox };
    let inventory: Inventory = open_inventory(inventory)?;
    let mut out = io::stdout().lock();
    if args.count {
        let count = inventory.missing_count(&args.source, &args.target, &filter)?;
        writeln!(out, "{count}")?;
    } else {
        let missing = inventory.missing(&args.source, &args.target, &filter)?;
        KeyWriter::new(inventory.years()).write_lines(&missing, KeyStyle::Key, &mut out)?;
    }
    out.flush()?;
    Ok(())
}
