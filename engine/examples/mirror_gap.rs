//! How many tiles a mirror lacks inside a box, year by year: the question a sync answers
//! first, asked of the inventory's indexes alone (nothing is listed, nothing is written).
//!
//! ```sh
//! tessera init --small --demo demo
//! cargo run -p tessera-engine --example mirror_gap -- demo okavango scaleway 17,-35,20,-33
//! ```

use std::process::ExitCode;

use tessera_engine::{Bbox, Filter, Inventory};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inventory, source, target, bbox] = args.as_slice() else {
        eprintln!("usage: mirror_gap INVENTORY SOURCE TARGET WEST,SOUTH,EAST,NORTH");
        return ExitCode::from(2);
    };
    match run(inventory, source, target, bbox) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mirror_gap: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, source: &str, target: &str, bbox: &str) -> tessera_engine::Result<()> {
    // Read-only: an index that is missing or stale is rebuilt in memory, never on disk.
    let inventory = Inventory::open_read_only(dir)?;
    let bbox = Bbox::parse(bbox)?;
    let mut total = 0;
    for year in inventory.years().iter() {
        let lacking = inventory.missing_count(source, target, &Filter { years: vec![year], bbox: Some(bbox) })?;
        if lacking > 0 {
            println!("{year}\t{lacking}");
        }
        total += lacking;
    }
    println!("total\t{total}");
    Ok(())
}
