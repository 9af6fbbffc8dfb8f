//! `tessera`: keep tile stores in sync from an index of what each one holds.
//!
//! This file only parses arguments, runs a command, and maps the outcome to an exit code:
//! 0 success, 1 problems found (`check`, `verify`), 2 error (a message on stderr, one line per cause). A closed pipe on stdout
//! (`tessera diff a b | head`) is a success.

mod args;
mod check;
mod diff;
mod init;
mod record;
mod scan;
mod serve;
mod status;
mod stores;
mod verify;

use std::io;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use tessera_engine::inventory::Inventory;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Check(check) => match check::run(&cli.inventory, check) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(err) => Err(err),
        },
        Command::Verify(verify) => match verify::run(&cli.inventory, verify) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(err) => Err(err),
        },
        Command::Import(import) => stores::import(&cli.inventory, import),
        Command::Stores(list) => stores::list(&cli.inventory, list),
        Command::Init(init) => init::run(&cli.inventory, init),
        Command::Status(status) => status::run(&cli.inventory, status),
        Command::Diff(diff) => diff::run(&cli.inventory, diff),
        Command::Scan(scan) => scan::run(&cli.inventory, scan),
        Command::Record(record) => record::run(&cli.inventory, record),
        Command::Serve(serve) => serve::run(&cli.inventory, serve),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

/// Opens the inventory and prints what opening it had to do (rebuilt indexes) on stderr.
pub(crate) fn open_inventory(dir: &Path) -> anyhow::Result<Inventory> {
    // Engine errors name the file and the fault, so they are printed as they are: one line.
    let inventory = Inventory::open(dir)?;
    for notice in inventory.notices() {
        eprintln!("tessera: note: {notice}");
    }
    Ok(inventory)
}
