//! `tessera init`: a new inventory, empty with stores declared, or the generated demo.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use tessera_engine::grid::YearRange;
use tessera_engine::inventory::{Config, Role, StoreConfig};
use tessera_fixtures::{DemoSize, DemoSpec};

use crate::args::InitArgs;

pub fn run(inventory: &Path, args: &InitArgs) -> Result<()> {
    match &args.demo {
        Some(dir) => demo(dir, args),
        None => empty(inventory, args),
    }
}

fn empty(dir: &Path, args: &InitArgs) -> Result<()> {
    let years = parse_years(&args.years)?;
    let stores = args.store.iter().map(|text| parse_store(text)).collect::<Result<Vec<_>>>()?;
    let config = Config { years, stores, map: Default::default() };
    config.create(dir)?;
    eprintln!(
        "tessera: created {} with {} stores; next: tessera --inventory {} import registry.parquet",
        dir.display(),
        config.stores.len(),
        dir.display()
    );
    Ok(())
}

/// `NAME=ROLE,STORAGE,PUBLIC_URL`.
fn parse_store(text: &str) -> Result<StoreConfig> {
    let usage = || format!("--store `{text}`: expected NAME=ROLE,STORAGE,PUBLIC_URL");
    let (name, rest) = text.split_once('=').with_context(usage)?;
    let mut fields = rest.splitn(3, ',');
    let (Some(role), Some(storage), Some(public_url)) = (fields.next(), fields.next(), fields.next()) else {
        bail!(usage());
    };
    let role = match role {
        "primary" => Role::Primary,
        "mirror" => Role::Mirror,
        other => bail!("--store `{text}`: role `{other}` is neither `primary` nor `mirror`"),
    };
    Ok(StoreConfig { name: name.to_owned(), role, storage: storage.to_owned(), public_url: public_url.to_owned() })
}

/// `2017..2025` (inclusive).
fn parse_years(text: &str) -> Result<YearRange> {
    let parsed = text.split_once("..").and_then(|(first, last)| Some((first.parse().ok()?, last.parse().ok()?)));
    let (first, last) = parsed.with_context(|| format!("--years `{text}`: expected FIRST..LAST, e.g. 2017..2025"))?;
    Ok(YearRange::new(first, last)?)
}

fn demo(dir: &Path, args: &InitArgs) -> Result<()> {
    let size = if args.small { DemoSize::Small } else { DemoSize::Full };
    let mut spec = DemoSpec { size, ..DemoSpec::default() };
    if let Some(seed) = args.seed {
        spec.seed = seed;
    }
    let started = Instant::now();
    let which = if args.planet {
        "planet"
    } else if args.small {
        "small"
    } else {
        "full"
    };
    eprintln!("tessera: writing the {which} demo inventory to {} ...", dir.display());
    let registry_tiles = if args.planet {
        tessera_fixtures::write_planet(dir, spec.seed).map(|(tiles, _)| tiles)
    } else {
        tessera_fixtures::write_demo(dir, &spec).map(|summary| summary.registry_tiles as u64)
    };
    let registry_tiles =
        registry_tiles.with_context(|| format!("cannot write the demo inventory to {}", dir.display()))?;
    // The first open builds the stores' indexes: what init is for, not news to print.
    let inventory = tessera_engine::inventory::Inventory::open(dir)
        .with_context(|| format!("cannot open the demo inventory in {}", dir.display()))?;
    // As `import` does: a server on a read-only copy finds the sizes and hashes indexed.
    inventory.registry_details().context("cannot index the registry's sizes and hashes")?;
    eprintln!(
        "tessera: wrote {} registry tiles and {} stores in {:.1} s; try: tessera --inventory {} status",
        registry_tiles,
        inventory.stores().len(),
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}
