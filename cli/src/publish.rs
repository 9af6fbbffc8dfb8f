//! `tessera publish DEST`: the map's data as static files in a directory (see
//! [`tessera_server::publish`]); unchanged files are left alone, changed ones replaced
//! atomically, so a web server reading the directory never serves half a file.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::HumanBytes;
use tessera_server::publish::{SiteFile, coverage_files};

use crate::args::PublishArgs;
use crate::text::counted;

pub fn run(dir: &Path, args: &PublishArgs) -> Result<()> {
    let files = coverage_files(dir)?;
    let changed: Vec<&SiteFile> =
        files.iter().filter(|file| !same_bytes(&args.dest.join(&file.path), &file.bytes)).collect();
    let bytes: u64 = changed.iter().map(|file| file.bytes.len() as u64).sum();
    let verb = if args.dry_run { "would write" } else { "wrote" };
    for file in &changed {
        if args.dry_run {
            println!("{}", file.path);
        } else {
            write_atomically(&args.dest.join(&file.path), &file.bytes)?;
        }
    }
    eprintln!(
        "tessera: {verb} {} of {} ({}) into {}; {} unchanged",
        counted(changed.len() as u64, "file", "files"),
        files.len(),
        HumanBytes(bytes),
        args.dest.display(),
        files.len() - changed.len()
    );
    Ok(())
}

fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    fs::read(path).is_ok_and(|found| found == bytes)
}

/// Writes `bytes` to a temporary file beside `path` (named for this process), then renames
/// it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        fs::File::create(&temporary)?.write_all(bytes)?;
        fs::rename(&temporary, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
