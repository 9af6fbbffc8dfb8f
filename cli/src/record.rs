//! `tessera record STORE [FILE|-]`: mark tiles as present in a store after a copy.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};
use tessera_engine::grid::{Tile, TileId, Year, YearRange};
use tessera_engine::listing::{Role, TilePath, parse_tile_path};
use tessera_engine::manifest::ManifestRow;

use crate::args::RecordArgs;
use crate::open_inventory;

pub fn run(dir: &Path, args: &RecordArgs) -> Result<()> {
    let mut inventory = open_inventory(dir)?;
    inventory.store(&args.store)?;
    let input: Box<dyn Read> = match args.input.as_deref() {
        None | Some("-") => Box::new(io::stdin().lock()),
        Some(path) => Box::new(File::open(path).with_context(|| format!("cannot open {path}"))?),
    };
    let copied = Copied::read(BufReader::new(input), inventory.years())?;
    let rows: Vec<ManifestRow> =
        copied.complete().into_iter().map(|id| ManifestRow { id, file_size: None, scales_size: None }).collect();
    let recorded = inventory.record(&args.store, &rows, args.compact_after)?;
    eprintln!(
        "tessera: recorded {} tiles in {} ({} already there{}){}",
        recorded.added + recorded.updated,
        args.store,
        recorded.already,
        if recorded.compacted { "; journal folded into the manifest" } else { "" },
        copied.summary()
    );
    Ok(())
}

/// What an input says was copied, tile by tile.
#[derive(Debug, Default)]
struct Copied {
    /// Tiles named whole: keys, item ids, folder paths, `s5cmd run` commands.
    whole: BTreeSet<TileId>,
    /// Tiles seen file by file (s5cmd's output): which `.npy` files were copied.
    files: BTreeMap<TileId, (bool, bool)>,
    /// Tiles an `ERROR` line names: never recorded.
    failed: BTreeSet<TileId>,
    unreadable: u64,
    first_unreadable: Option<u64>,
}

impl Copied {
    fn read(input: impl BufRead, years: YearRange) -> Result<Copied> {
        let mut copied = Copied::default();
        for (number, line) in input.split(b'\n').enumerate() {
            let line = line.context("cannot read the input")?;
            copied.line(&line, number as u64 + 1, years);
        }
        Ok(copied)
    }

    fn line(&mut self, line: &[u8], number: u64, years: YearRange) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let failed = text.starts_with("ERROR");
        let mut found = false;
        // The destination is the last path on a `cp` line; an error line names the tile anywhere.
        for token in text.split_whitespace().rev().map(|t| t.trim_matches(|c| c == '"' || c == '\'' || c == ':')) {
            if let Some((id, role)) = tile_in(token, years) {
                found = true;
                if failed {
                    self.failed.insert(id);
                    continue;
                }
                match role {
                    None => _ = self.whole.insert(id),
                    Some(role) => self.file(id, role),
                }
                break;
            }
        }
        if !found && !failed {
            self.unreadable += 1;
            self.first_unreadable.get_or_insert(number);
        }
    }

    fn file(&mut self, id: TileId, role: Role) {
        let entry = self.files.entry(id).or_default();
        match role {
            Role::Embeddings => entry.0 = true,
            Role::Scales => entry.1 = true,
            Role::Sha256 => {}
        }
    }

    /// Tiles named whole, or with both `.npy` files copied, and no error.
    fn complete(&self) -> Vec<TileId> {
        let by_files = self.files.iter().filter(|(_, (embeddings, scales))| *embeddings && *scales).map(|(id, _)| *id);
        let all: BTreeSet<TileId> = self.whole.iter().copied().chain(by_files).collect();
        all.into_iter().filter(|id| !self.failed.contains(id)).collect()
    }

    fn summary(&self) -> String {
        let mut notes = Vec::new();
        if !self.failed.is_empty() {
            notes.push(format!("{} tiles with copy errors left out", self.failed.len()));
        }
        let partial = self.files.values().filter(|(e, s)| !(*e && *s)).count();
        if partial > 0 {
            notes.push(format!("{partial} tiles with only some files copied left out"));
        }
        if let Some(line) = self.first_unreadable {
            notes.push(format!("{} lines named no tile (first: line {line})", self.unreadable));
        }
        if notes.is_empty() { String::new() } else { format!("; {}", notes.join("; ")) }
    }
}

/// The tile a token names: `2024/grid_x_y`, `2024_grid_x_y`, a tile folder path (`.../`,
/// `.../*`) or a tile file path (then with the file's role).
pub(crate) fn tile_in(token: &str, years: YearRange) -> Option<(TileId, Option<Role>)> {
    if let Ok(tile) = Tile::parse_item_id(token) {
        return Some((years.id(tile).ok()?, None));
    }
    let folder = token.trim_end_matches('*').trim_end_matches('/');
    let mut parts = folder.rsplit('/');
    if let (Some(name), Some(year)) = (parts.next(), parts.next())
        && let Ok(tile) = Tile::parse_key(&format!("{year}/{name}"))
    {
        return Some((years.id(tile).ok()?, None));
    }
    match parse_tile_path(token.as_bytes(), None) {
        TilePath::File { year, cell, role } => Some((years.id(Tile::new(year as Year, cell)).ok()?, Some(role))),
        _ => None,
    }
}

/// `tessera repair STORE`: salvage a damaged journal. Reads only the config: a damaged
/// journal may keep the inventory from opening.
pub fn repair(dir: &Path, args: &crate::args::RepairArgs) -> Result<()> {
    match tessera_engine::inventory::repair_journal(dir, &args.store)? {
        None => eprintln!("tessera: {}'s journal is not damaged: nothing to repair", args.store),
        Some(repaired) => {
            let damaged: u64 = repaired.skipped.iter().map(|(from, to)| to - from).sum();
            let ranges: Vec<String> = repaired.skipped.iter().map(|(from, to)| format!("{from}..{to}")).collect();
            eprintln!(
                "tessera: repaired {}'s journal: {} records kept, {} restored from the index, {} lost; {damaged} damaged bytes (at {}) skipped; the damaged file is kept at {}",
                args.store,
                repaired.kept,
                repaired.restored,
                repaired.lost,
                ranges.join(", "),
                repaired.aside.display()
            );
            if repaired.lost > 0 {
                eprintln!(
                    "tessera: note: no index built after the damage holds the lost records: `tessera diff` counts their tiles as missing until they are recorded or listed again"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_engine::grid::DEFAULT_YEARS;

    fn id(key: &str) -> TileId {
        DEFAULT_YEARS.id(Tile::parse_key(key).unwrap()).unwrap()
    }

    #[test]
    fn only_successful_copies_are_complete() {
        let input = "2024/grid_0.85_49.95\n\
            2024_grid_0.95_49.95\n\
            cp \"/data/v1/2023/grid_0.85_49.95/*\" \"s3://b/v1/2023/grid_0.85_49.95/\"\n\
            cp /data/v1/2022/grid_0.85_49.95/grid_0.85_49.95.npy s3://b/v1/2022/grid_0.85_49.95/grid_0.85_49.95.npy\n\
            cp /data/v1/2022/grid_0.85_49.95/grid_0.85_49.95_scales.npy s3://b/v1/2022/grid_0.85_49.95/grid_0.85_49.95_scales.npy\n\
            cp /data/v1/2021/grid_0.85_49.95/grid_0.85_49.95.npy s3://b/v1/2021/grid_0.85_49.95/grid_0.85_49.95.npy\n\
            ERROR \"cp /data/v1/2020/grid_0.85_49.95/* s3://b/v1/2020/grid_0.85_49.95/\": no object found\n\
            cp \"/data/v1/2020/grid_0.85_49.95/*\" \"s3://b/v1/2020/grid_0.85_49.95/\"\n\
            hello\n";
        let copied = Copied::read(input.as_bytes(), DEFAULT_YEARS).unwrap();
        let expected: BTreeSet<TileId> =
            ["2022/grid_0.85_49.95", "2023/grid_0.85_49.95", "2024/grid_0.85_49.95", "2024/grid_0.95_49.95"]
                .into_iter()
                .map(id)
                .collect();
        assert_eq!(copied.complete().into_iter().collect::<BTreeSet<_>>(), expected);
        let summary = copied.summary();
        assert!(summary.contains("1 tiles with copy errors") && summary.contains("line 9"), "{summary}");
    }
}
