//! `tessera`: keep tile stores in sync from an index of what each one holds.
//!
//! This file only parses arguments, runs a command, and maps the outcome to an exit code:
//! 0 success, 1 problems found (`check`, `verify`) or tiles left unsynced (`sync`), 2 error (a message on stderr, one line per cause). A closed pipe on stdout
//! (`tessera diff a b | head`) is a success.

mod args;
mod bucket;
mod check;
mod diff;
mod hash;
mod init;
mod pair;
mod publish;
mod record;
mod scan;
mod select;
mod serve;
mod shard;
mod status;
mod stores;
mod sync;
mod text;
mod time;
mod verify;

use std::io;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use tessera_engine::Notice;
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
        Command::Hash(hash) => match hash::run(&cli.inventory, hash) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(err) => Err(err),
        },
        Command::Sync(sync) => match sync::run(&cli.inventory, sync) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(err) => Err(err),
        },
        Command::Import(import) => stores::import(&cli.inventory, import),
        Command::Ingest(ingest) => stores::ingest(&cli.inventory, ingest),
        Command::Stores(list) => stores::list(&cli.inventory, list),
        Command::Init(init) => init::run(&cli.inventory, init),
        Command::Status(status) => status::run(&cli.inventory, status),
        Command::Diff(diff) => diff::run(&cli.inventory, diff),
        Command::Select(select) => select::run(&cli.inventory, select),
        Command::Scan(scan) => scan::run(&cli.inventory, scan),
        Command::Record(record) => record::run(&cli.inventory, record),
        Command::Repair(repair) => record::repair(&cli.inventory, repair),
        Command::Serve(serve) => serve::run(&cli.inventory, serve),
        Command::Publish(publish) => publish::run(&cli.inventory, publish),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: error: {err}");
            // Some errors (object_store's) repeat their cause in their own message: say it once.
            let mut said = err.to_string();
            for cause in err.chain().skip(1).map(|cause| cause.to_string()) {
                if !said.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
                said = cause;
            }
            ExitCode::from(2)
        }
    }
}

/// Whether the reader of our output went away (`tessera status --json | head`): not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io_kind = cause.downcast_ref::<io::Error>().map(io::Error::kind);
        // JSON output fails with serde_json's error, which wraps the io error.
        let json_kind = cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind);
        io_kind.or(json_kind) == Some(io::ErrorKind::BrokenPipe)
    })
}

/// Opens the inventory and prints what opening it had to do (rebuilt indexes) on stderr.
pub(crate) fn open_inventory(dir: &Path) -> anyhow::Result<Inventory> {
    // Engine errors name the file and the fault, so they are printed as they are: one line.
    let inventory = Inventory::open(dir)?;
    for notice in inventory.notices() {
        eprintln!("tessera: note: {}", word(notice));
    }
    Ok(inventory)
}

/// A notice in the command's words: where the engine says what it found, the command also
/// says what to run.
pub(crate) fn word(notice: &Notice) -> String {
    match notice {
        Notice::NoRegistry { path } => {
            format!("there is no registry at {}: import one with `tessera import FILE`", path.display())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that has gone away.
    struct ClosedPipe;

    impl io::Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_not_an_error_for_text_or_json() {
        let text = io::Write::write_all(&mut ClosedPipe, b"2024/grid_0.85_49.95\n").map_err(anyhow::Error::from);
        assert!(is_broken_pipe(&text.unwrap_err().context("writing keys")));
        let json = serde_json::to_writer(ClosedPipe, &serde_json::json!({"tiles": 1})).map_err(anyhow::Error::from);
        assert!(is_broken_pipe(&json.unwrap_err()));
        assert!(!is_broken_pipe(&anyhow::anyhow!("unknown store `nope`")));
    }
}
