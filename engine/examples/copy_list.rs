//! The copy list for what a mirror lacks, in the form a copy tool reads (`s5cmd run`
//! commands, an `rsync --files-from` list, or `cp -a` lines), written to standard output: what
//! `tessera diff SOURCE TARGET --emit-copylist --format TOOL` prints, from the library.
//!
//! ```sh
//! tessera init --small --demo demo
//! cargo run -p tessera-engine --example copy_list -- demo okavango scaleway rsync > list.txt
//! rsync -a -r --files-from=list.txt /data/tessera/ /mnt/cephfs/tessera/
//! ```

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use tessera_engine::{CopyTool, Filter, Inventory, KeyWriter};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inventory, source, target, tool] = args.as_slice() else {
        eprintln!("usage: copy_list INVENTORY SOURCE TARGET s5cmd|rsync|cp");
        return ExitCode::from(2);
    };
    let Some(tool) = CopyTool::ALL.into_iter().find(|known| known.name() == tool) else {
        eprintln!("copy_list: `{tool}` is not one of s5cmd, rsync, cp");
        return ExitCode::from(2);
    };
    match run(inventory, source, target, tool) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("copy_list: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, source: &str, target: &str, tool: CopyTool) -> Result<(), Box<dyn std::error::Error>> {
    let inventory = Inventory::open_read_only(dir)?;
    let from = inventory.store(source)?.config.storage()?;
    let to = inventory.store(target)?.config.storage()?;
    // A tool that cannot copy between the two storages (s5cmd between two directories) says so.
    tool.check(&from, &to)?;
    let lacking = inventory.missing(source, target, &Filter::default())?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    KeyWriter::new(inventory.years()).write_for_tool(&lacking, tool, &from, &to, &mut out)?;
    out.flush()?;
    Ok(())
}
