//! Listing a local store directly: its tile files as `size path` lines, the shape of
//! `find -printf '%s %p\n'`, so that [`super::Scanner`] reads them like any listing. A walk
//! lists exactly the [`Scope`] the scan will replace: its years, its prefix.
//!
//! The walk follows the grid's own layout: the year folders the inventory covers, then their
//! tile folders, which `threads` workers share (a tile folder is one `readdir` and three
//! `stat`s; a year holds up to 6.48M of them). Lines come back a block at a time, in no
//! particular order, to a caller that feeds the scanner while the workers go on.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::error::{Error, Result};
use crate::grid::YearRange;
use crate::store::Scope;

/// Bytes of lines a worker gathers before handing them over.
const BLOCK: usize = 1 << 20;

/// Lists the tile files under `root` (`{year}/grid_{lon}_{lat}/{file}`, for the years of
/// `years` whose folder exists, and the folders `scope` covers) with `threads` workers, calling `block` with each block of
/// `size path` lines (paths relative to `root`) and `done` with the tile folders listed so
/// far. Anything in a year folder that is not a folder is listed too: the scanner reports
/// what does not belong. Returns the tile folders listed.
pub fn list_local(
    root: &Path,
    years: YearRange,
    scope: &Scope,
    threads: usize,
    mut block: impl FnMut(&[u8]),
    mut done: impl FnMut(usize),
) -> Result<usize> {
    let folders = tile_folders(root, years, scope, &mut block)?;
    let next = AtomicUsize::new(0);
    let (send, blocks) = mpsc::sync_channel::<Result<(Vec<u8>, usize)>>(2 * threads.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (send, folders, next) = (send.clone(), &folders, &next);
            scope.spawn(move || list_folders(root, folders, next, &send));
        }
        drop(send);
        let mut listed = 0;
        for message in blocks {
            let (lines, folders) = message?;
            block(&lines);
            listed += folders;
            done(listed);
        }
        Ok(listed)
    })
}

/// Every `{year}/{entry}` under `root` for the inventory's years that `scope` covers, sorted;
/// entries that are not folders are written to `block` as lines at once.
fn tile_folders(root: &Path, years: YearRange, scope: &Scope, block: &mut impl FnMut(&[u8])) -> Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    let mut files = Vec::new();
    for year in years.iter().filter(|&year| scope.years.is_empty() || scope.years.contains(&year)) {
        let year_dir = root.join(year.to_string());
        let entries = match fs::read_dir(&year_dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(Error::io("listing", &year_dir)(err)),
        };
        for entry in entries {
            let entry = entry.map_err(Error::io("listing", &year_dir))?;
            let relative = Path::new(&year.to_string()).join(entry.file_name());
            let kind = entry.file_type().map_err(Error::io("reading", entry.path()))?;
            if kind.is_dir() {
                if scope.covers_folder(year, &entry.file_name().to_string_lossy()) {
                    folders.push(relative);
                }
            } else {
                let size = entry.metadata().map_err(Error::io("reading", entry.path()))?.len();
                push_line(&mut files, size, &relative);
            }
        }
    }
    if !files.is_empty() {
        block(&files);
    }
    folders.sort_unstable();
    Ok(folders)
}

/// A worker: takes the next tile folder until none is left, lists its files.
fn list_folders(
    root: &Path,
    folders: &[PathBuf],
    next: &AtomicUsize,
    send: &mpsc::SyncSender<Result<(Vec<u8>, usize)>>,
) {
    let mut lines = Vec::with_capacity(BLOCK + 4096);
    let mut listed = 0;
    loop {
        let at = next.fetch_add(1, Ordering::Relaxed);
        let Some(folder) = folders.get(at) else { break };
        if let Err(err) = list_folder(root, folder, &mut lines) {
            let _ = send.send(Err(err));
            return;
        }
        listed += 1;
        if lines.len() >= BLOCK {
            if send.send(Ok((std::mem::take(&mut lines), listed))).is_err() {
                return;
            }
            listed = 0;
            lines.reserve(BLOCK + 4096);
        }
    }
    if !lines.is_empty() || listed > 0 {
        let _ = send.send(Ok((lines, listed)));
    }
}

/// The `size path` lines of the files in one tile folder (`2024/grid_0.85_49.95`).
fn list_folder(root: &Path, folder: &Path, lines: &mut Vec<u8>) -> Result<()> {
    let dir = root.join(folder);
    for entry in fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
        let entry = entry.map_err(Error::io("listing", &dir))?;
        let size = entry.metadata().map_err(Error::io("reading", entry.path()))?.len();
        push_line(lines, size, &folder.join(entry.file_name()));
    }
    Ok(())
}

/// Appends `size path\n`. A path that is not UTF-8 is written lossily, and a line end in a
/// name as `?`, so that no name can pass for another line: the scanner then reports such a
/// line as one it cannot place.
fn push_line(lines: &mut Vec<u8>, size: u64, path: &Path) {
    lines.extend_from_slice(size.to_string().as_bytes());
    lines.push(b' ');
    let path = path.to_string_lossy();
    lines.extend(path.bytes().map(|byte| if byte == b'\n' { b'?' } else { byte }));
    lines.push(b'\n');
}
