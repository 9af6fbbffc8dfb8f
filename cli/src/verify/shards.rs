//! The findings file of one `verify --shard I/N` process, and their merge.
//!
//! A shard writes nothing to the inventory (it may be a read-only copy on each machine): its
//! findings go to its own file, `{store}-shard-{I}-of-{N}.jsonl` in the findings folder, one
//! JSON object a line. Each chunk of tiles appends its damaged tiles then a checkpoint in one
//! write, synced, so a killed shard resumes after its last checkpoint (anything after it is
//! dropped and checked again). `verify --merge-shards` then applies every shard's findings
//! through the inventory's journal, once.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tessera_engine::grid::TileId;

use super::Damaged;
use crate::shard::Shard;

/// What a shard's findings file holds up to its last checkpoint.
#[derive(Debug, Default)]
pub struct Findings {
    /// The run the file is of: a new one each time the shard starts over.
    pub run: String,
    pub damaged: Vec<(TileId, String, String)>,
    /// The last tile id checked, in the store's order.
    pub checked_through: Option<TileId>,
    pub verified: u64,
    pub finished: bool,
}

/// A shard's findings file, open for appending.
pub struct FindingsFile {
    path: PathBuf,
    file: File,
}

/// The findings file of `shard` of `store` in `dir`.
fn path_of(dir: &Path, store: &str, shard: Shard) -> PathBuf {
    dir.join(format!("{store}-shard-{}-of-{}.jsonl", shard.index, shard.count))
}

impl FindingsFile {
    /// Opens the shard's file in `dir` (creating both), keeping what it holds up to its last
    /// checkpoint unless `restart`; returns it with those findings, to resume from.
    ///
    /// The file stays locked while open: a second process on the same shard (a replacement
    /// pod started while the old one is still stopping, a shard launched twice) is refused,
    /// since both appending, and each cutting the file back to its own last checkpoint,
    /// would lose findings.
    pub fn open(dir: &Path, store: &str, shard: Shard, restart: bool) -> Result<(FindingsFile, Findings)> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = path_of(dir, store, shard);
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.try_lock().is_err() {
            bail!(
                "shard {}/{} of {store} is being verified by another process ({} is locked)",
                shard.index,
                shard.count,
                path.display()
            );
        }
        let (findings, kept) = if restart || !existed { (Findings::default(), 0) } else { read(&path)? };
        file.set_len(kept).with_context(|| format!("cannot write {}", path.display()))?;
        let mut opened = FindingsFile { path, file };
        if kept == 0 {
            let shard_name = format!("{}/{}", shard.index, shard.count);
            opened.append(&json!({ "store": store, "shard": shard_name, "run": run_id() }).to_string())?;
        }
        Ok((opened, findings))
    }

    /// Appends a chunk's damaged tiles and the checkpoint after it, in one synced write.
    pub fn save(&mut self, damaged: &[(Damaged, String)], checked_through: TileId, verified: u64) -> Result<()> {
        let mut lines = String::new();
        for ((id, problem), key) in damaged {
            lines += &json!({ "damaged": key, "id": id.0, "problem": problem }).to_string();
            lines.push('\n');
        }
        lines += &json!({ "checked_through": checked_through.0, "verified": verified }).to_string();
        self.append(&lines)
    }

    /// Marks the shard finished.
    pub fn finish(&mut self, verified: u64) -> Result<()> {
        self.append(&json!({ "finished": true, "verified": verified }).to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, lines: &str) -> Result<()> {
        let write = |file: &mut File| {
            use std::io::Seek;
            file.seek(std::io::SeekFrom::End(0))?;
            file.write_all(format!("{lines}\n").as_bytes())?;
            file.sync_data()
        };
        write(&mut self.file).with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The findings of a shard's file up to its last checkpoint, and that checkpoint's end.
fn read(path: &Path) -> Result<(Findings, u64)> {
    let text = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut findings = Findings::default();
    let mut pending = Vec::new();
    let (mut offset, mut kept) = (0, 0);
    for line in text.split_inclusive(|&b| b == b'\n') {
        offset += line.len() as u64;
        // A torn last line is a write the shard never finished: it is checked again.
        let Ok(value) = serde_json::from_slice::<Value>(line) else { break };
        if !line.ends_with(b"\n") {
            break;
        }
        if let Some(key) = value["damaged"].as_str() {
            let id = value["id"].as_u64().and_then(|id| u32::try_from(id).ok());
            let Some(id) = id else { bail!("{}: a damaged tile without its id: {value}", path.display()) };
            pending.push((TileId(id), key.to_owned(), value["problem"].as_str().unwrap_or_default().to_owned()));
        } else if let Some(through) = value["checked_through"].as_u64() {
            findings.checked_through = u32::try_from(through).ok().map(TileId);
            findings.verified = value["verified"].as_u64().unwrap_or_default();
            findings.damaged.append(&mut pending);
            kept = offset;
        } else if value["finished"].as_bool() == Some(true) {
            findings.finished = true;
            findings.verified = value["verified"].as_u64().unwrap_or(findings.verified);
            kept = offset;
        } else if value.get("store").is_some() {
            findings.run = value["run"].as_str().unwrap_or_default().to_owned();
            kept = offset;
        }
    }
    Ok((findings, kept))
}

/// Every shard's findings for `store` in `dir`, by shard (`None` for a shard without a file);
/// the files must all be of one run, split N ways.
pub fn read_all(dir: &Path, store: &str) -> Result<Vec<(Shard, Option<Findings>)>> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read the findings folder {}", dir.display()))?;
    let mut counts = Vec::new();
    for entry in entries {
        let name = entry.with_context(|| format!("cannot read {}", dir.display()))?.file_name();
        let name = name.to_string_lossy();
        let shard = name
            .strip_prefix(&format!("{store}-shard-"))
            .and_then(|rest| rest.strip_suffix(".jsonl"))
            .and_then(|rest| rest.replacen("-of-", "/", 1).parse::<Shard>().ok());
        if let Some(shard) = shard {
            counts.push(shard.count);
        }
    }
    counts.sort_unstable();
    counts.dedup();
    let count = match counts.as_slice() {
        [count] => *count,
        [] => bail!("{} holds no findings of {store} (`{store}-shard-I-of-N.jsonl`)", dir.display()),
        many => bail!("{} holds findings of runs split {many:?} ways: keep one run's files only", dir.display()),
    };
    let mut shards = Vec::new();
    for index in 0..count {
        let shard = Shard { index, count };
        let path = path_of(dir, store, shard);
        let findings = if path.exists() { Some(read(&path)?.0) } else { None };
        shards.push((shard, findings));
    }
    Ok(shards)
}

/// A name for a shard's run that another run, on this machine or another, does not take.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// The ledger of what merges applied: `{store}-merged.jsonl` in the findings folder, a line
/// a shard a merge, `{"shard": I, "run": ..., "applied": K}`: the first K damaged tiles of that
/// run of that shard were removed. A later merge removes only what comes after, so tiles copied
/// again between two merges are not removed again.
fn ledger_path(dir: &Path, store: &str) -> PathBuf {
    dir.join(format!("{store}-merged.jsonl"))
}

/// How many damaged tiles of each shard's run earlier merges applied, by (shard index, run).
pub fn applied(dir: &Path, store: &str) -> Result<std::collections::HashMap<(u32, String), usize>> {
    let path = ledger_path(dir, store);
    let mut applied = std::collections::HashMap::new();
    let text = match fs::read_to_string(&path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(applied),
        read => read.with_context(|| format!("cannot read {}", path.display()))?,
    };
    // A torn last line is a merge that did not record: what it applied is applied again.
    for value in text.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()) {
        let shard = value["shard"].as_u64().and_then(|index| u32::try_from(index).ok());
        let run = value["run"].as_str().unwrap_or_default().to_owned();
        if let (Some(shard), Some(count)) = (shard, value["applied"].as_u64()) {
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            let entry = applied.entry((shard, run)).or_insert(0);
            *entry = (*entry).max(count);
        }
    }
    Ok(applied)
}

/// Records that a merge applied the first `count` damaged tiles of each (shard, run).
pub fn record_applied(dir: &Path, store: &str, applied: &[(Shard, String, usize)]) -> Result<()> {
    let path = ledger_path(dir, store);
    let mut lines = String::new();
    for (shard, run, count) in applied {
        lines += &json!({ "shard": shard.index, "run": run, "applied": count }).to_string();
        lines.push('\n');
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.write_all(lines.as_bytes())
        .and_then(|()| file.sync_data())
        .with_context(|| format!("cannot write {}", path.display()))
}
