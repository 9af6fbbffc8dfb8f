//! Listing a local store directly: its tile files as `size path` lines, the shape of
//! `find -printf '%s %p\n'`, so that [`super::Scanner`] reads them like any listing. A walk
//! lists exactly the [`Scope`] the scan will replace: its years, its prefix.
//!
//! The walk follows the grid's own layout: the year folders the inventory covers, then their
//! tile folders, which `threads` workers share (a tile folder is one `readdir` and three
//! `stat`s; a year holds up to 6.48M of them). Lines come back a block at a time, in no
//! particular order, to a caller that feeds the scanner while the workers go on.
//!
//! A symbolic link is never listed as a tile file (the rule is in [`crate::storage`]): it is
//! handed to the caller, named, so that a tile with a linked file is partial, as `sync` judges
//! it, and the operator learns why.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::error::{Error, Result};
use crate::grid::YearRange;
use crate::storage::{Links, LocalEntry};
use crate::store::Scope;

/// Bytes of lines a worker gathers before handing them over.
const BLOCK: usize = 1 << 20;
/// Links a worker gathers before handing them over, however few lines it has: a store made of
/// links lists no line, and its links must not pile up in memory.
const LINKS_PER_BLOCK: usize = 4096;

/// A symbolic link met by the walk, not listed: where it is (relative to the root) and the
/// path it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLink {
    /// `2024/grid_0.85_49.95/grid_0.85_49.95.npy`.
    pub path: PathBuf,
    /// Where it points, as written in it.
    pub to: PathBuf,
}

/// What one worker hands over: lines, the links met, and the tile folders they cover.
#[derive(Debug, Default)]
struct Listed {
    lines: Vec<u8>,
    links: Vec<FoundLink>,
    folders: usize,
}

/// Lists the tile files under `root` (`{year}/grid_{lon}_{lat}/{file}`, for the years of
/// `years` whose folder exists, and the folders `scope` covers) with `threads` workers, calling `block` with each block of
/// `size path` lines (paths relative to `root`), `link` with each symbolic link met (never
/// listed), and `done` with the tile folders listed so far. Anything in a year folder that is
/// not a folder is listed too: the scanner reports what does not belong. Returns the tile
/// folders listed.
pub fn list_local(
    root: &Path,
    years: YearRange,
    scope: &Scope,
    threads: usize,
    mut block: impl FnMut(&[u8]),
    mut link: impl FnMut(FoundLink),
    mut done: impl FnMut(usize),
) -> Result<usize> {
    let folders = tile_folders(root, years, scope, &mut block, &mut link)?;
    let next = AtomicUsize::new(0);
    let (send, blocks) = mpsc::sync_channel::<Result<Listed>>(2 * threads.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let (send, folders, next) = (send.clone(), &folders, &next);
            scope.spawn(move || list_folders(root, folders, next, &send));
        }
        drop(send);
        let mut listed = 0;
        for message in blocks {
            let Listed { lines, links, folders } = message?;
            block(&lines);
            links.into_iter().for_each(&mut link);
            listed += folders;
            done(listed);
        }
        Ok(listed)
    })
}

/// Every `{year}/{entry}` under `root` for the inventory's years that `scope` covers, sorted;
/// entries that are not folders are written to `block` as lines at once, links to `link`.
fn tile_folders(
    root: &Path,
    years: YearRange,
    scope: &Scope,
    block: &mut impl FnMut(&[u8]),
    link: &mut impl FnMut(FoundLink),
) -> Result<Vec<PathBuf>> {
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
                let own = entry.metadata().map_err(Error::io("reading", entry.path()))?;
                match LocalEntry::judge(&entry.path(), &own, Links::Refused)? {
                    LocalEntry::Link { to } => link(FoundLink { path: relative, to }),
                    _ => push_line(&mut files, own.len(), &relative),
                }
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
fn list_folders(root: &Path, folders: &[PathBuf], next: &AtomicUsize, send: &mpsc::SyncSender<Result<Listed>>) {
    let fresh = || Listed { lines: Vec::with_capacity(BLOCK + 4096), ..Listed::default() };
    let mut listed = fresh();
    loop {
        let at = next.fetch_add(1, Ordering::Relaxed);
        let Some(folder) = folders.get(at) else { break };
        if let Err(err) = list_folder(root, folder, &mut listed) {
            let _ = send.send(Err(err));
            return;
        }
        listed.folders += 1;
        let full = listed.lines.len() >= BLOCK || listed.links.len() >= LINKS_PER_BLOCK;
        if full && send.send(Ok(std::mem::replace(&mut listed, fresh()))).is_err() {
            return;
        }
    }
    if !listed.lines.is_empty() || listed.folders > 0 {
        let _ = send.send(Ok(listed));
    }
}

/// The `size path` lines of the files in one tile folder (`2024/grid_0.85_49.95`), and its links.
fn list_folder(root: &Path, folder: &Path, listed: &mut Listed) -> Result<()> {
    let dir = root.join(folder);
    for entry in fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
        let entry = entry.map_err(Error::io("listing", &dir))?;
        let own = entry.metadata().map_err(Error::io("reading", entry.path()))?;
        let relative = folder.join(entry.file_name());
        match LocalEntry::judge(&entry.path(), &own, Links::Refused)? {
            LocalEntry::Link { to } => listed.links.push(FoundLink { path: relative, to }),
            _ => push_line(&mut listed.lines, own.len(), &relative),
        }
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
