//! `tessera init --demo DIR`: write the generated demo inventory and build its indexes.

use std::time::Instant;

use anyhow::{Context, Result};
use tessera_fixtures::{DemoSize, DemoSpec};

use crate::args::InitArgs;
use crate::status::open_inventory;

pub fn run(args: &InitArgs) -> Result<()> {
    let size = if args.small { DemoSize::Small } else { DemoSize::Full };
    let mut spec = DemoSpec { size, ..DemoSpec::default() };
    if let Some(seed) = args.seed {
        spec.seed = seed;
    }
    let started = Instant::now();
    eprintln!(
        "tessera: writing the {} demo inventory to {} ...",
        if args.small { "small" } else { "full" },
        args.demo.display()
    );
    let summary = tessera_fixtures::write_demo(&args.demo, &spec)
        .with_context(|| format!("cannot write the demo inventory to {}", args.demo.display()))?;
    let inventory = open_inventory(&args.demo)?;
    eprintln!(
        "tessera: wrote {} registry tiles and {} stores in {:.1} s; try: tessera --inventory {} status",
        summary.registry_tiles,
        inventory.stores().len(),
        started.elapsed().as_secs_f64(),
        args.demo.display()
    );
    Ok(())
}
