//! One chunk of a sync: run the copy tool on it, then decide tile by tile what was copied whole.
//!
//! A tile is confirmed only when every file it has at the source arrived complete:
//! - `s5cmd` (S3 on a side): its `--json` output names each object it copied, with the size
//!   (except server-side copies), and each failure. Its exit status is not enough: `s5cmd`
//!   reports per object (peak/s5cmd#869).
//! - `rsync`, `cp` (two directories): they report one exit status for the whole chunk, so each
//!   tile's files are compared afterwards, source against target, by size. A link is never a
//!   copy (the rule is in `tessera_engine::storage`): `-a` copies a link as a link, so a tile
//!   whose folder or files are links at the target fails, and so does one whose source holds
//!   links, unless `--copy-links` ([`Links::Followed`]) had the tool copy what they point to.
//!
//! Both `.npy` files must be there and non-empty; a `SHA256` file is copied (and checked) where
//! the source has one. What is not confirmed is failed, with the reason, and never recorded.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{Context, Result};
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::{TileId, YearRange};
use tessera_engine::listing::Role;
use tessera_engine::manifest::ManifestRow;
use tessera_engine::storage::{CopyTool, Links, LocalEntry, Storage};

use crate::record::tile_in;

/// What one chunk's copy achieved.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Tiles copied whole, with the sizes their files have at the target.
    pub copied: Vec<ManifestRow>,
    /// Tiles copied whole whose sizes differ from what they should be (the source differs
    /// from the registry): recorded as they are, reported, not retried.
    pub differ: Vec<(TileId, String)>,
    /// Tiles not copied whole, with why: retried, never recorded.
    pub failed: Vec<(TileId, String)>,
    /// Copied tiles whose objects showed the checksums recorded for the source's files.
    pub confirmed: usize,
}

/// Runs one tool between two storages.
#[derive(Debug)]
pub struct Copier<'a> {
    pub tool: CopyTool,
    pub from: &'a Storage,
    pub to: &'a Storage,
    pub keys: &'a KeyWriter,
    pub years: YearRange,
    /// Whether the source's links are copied as what they point to (`--copy-links`).
    pub links: Links,
    /// For an S3 target: uploads confirmed by the checksums S3 keeps, where they are known.
    pub confirm: Option<&'a super::confirm::ByChecksum<'a>>,
}

impl Copier<'_> {
    /// Copies `chunk` (tiles with the sizes they should have). An error means the tool could
    /// not be run at all (not installed); a failed copy is in the outcome.
    pub fn copy(&self, chunk: &[ManifestRow]) -> Result<Outcome> {
        let ranges: Vec<_> =
            chunk.iter().map(|row| tessera_engine::grid::IdRange { lo: row.id.0, hi: row.id.0 }).collect();
        let mut input = Vec::new();
        if self.tool != CopyTool::Cp {
            self.keys.write_for_tool(&ranges, self.tool, self.from, self.to, &mut input)?;
        }
        if let Some(target) = self.to.local_path() {
            // Parallel copies of the same year would race to make its folder (`cp --parents`
            // fails when another process made it first): it is made here, where that is fine.
            let year = |row: &ManifestRow| self.key(row.id).split('/').next().unwrap_or_default().to_owned();
            let mut years: Vec<String> = chunk.iter().map(year).collect();
            years.dedup();
            for year in years {
                let _ = fs::create_dir_all(target.join(year));
            }
        }
        match self.tool {
            CopyTool::S5cmd => {
                let mut outcome = self.s5cmd(chunk, &input)?;
                if let Some(confirm) = self.confirm {
                    outcome.confirmed = confirm.confirm(&mut outcome)?;
                }
                Ok(outcome)
            }
            CopyTool::Rsync => {
                // `--files-from` lists tile folders relative to both roots; `-r` (which `-a`
                // does not imply with a list) copies each folder whole.
                let mut command = Command::new("rsync");
                command.args(["-a", "-r", "--files-from=-"]);
                if self.links == Links::Followed {
                    command.arg("--copy-links");
                }
                command.arg(format!("{}/", self.from)).arg(format!("{}/", self.to));
                let (status, said) = run(command, &input)?;
                Ok(self.compare_folders(chunk, &status, &said))
            }
            CopyTool::Cp => {
                // `--parents` recreates `2024/grid_x_y` below the target; run from the source
                // root, the chunk's keys as arguments (the `cp` copy list's lines are commands
                // for a shell, one a tile: one process here does the whole chunk).
                let mut command = Command::new("cp");
                // `--remove-destination`: a link already at the target (an old copy of links)
                // is replaced; `cp` would otherwise write through it, into the file it points to,
                // which is another store's. (`rsync` writes a new file and renames it over.)
                command.args(["-a", "--parents", "--remove-destination"]);
                if self.links == Links::Followed {
                    // After `-a`, which implies `--no-dereference`: the last one wins.
                    command.arg("--dereference");
                }
                command.arg("-t").arg(format!("{}/", self.to)).current_dir(self.from.as_str());
                command.args(chunk.iter().map(|row| self.key(row.id)));
                let (status, said) = run(command, b"")?;
                Ok(self.compare_folders(chunk, &status, &said))
            }
        }
    }

    /// The copy-list key of a tile: `2024/grid_0.85_49.95`.
    fn key(&self, id: TileId) -> String {
        let mut key = Vec::new();
        self.keys.push(&mut key, id.0, KeyStyle::Key);
        String::from_utf8_lossy(&key).into_owned()
    }

    /// `s5cmd --json run` with the chunk's commands; each tile judged by the objects reported.
    fn s5cmd(&self, chunk: &[ManifestRow], commands: &[u8]) -> Result<Outcome> {
        let mut command = Command::new("s5cmd");
        command.args(["--json", "run"]);
        let (status, said) = run(command, commands)?;
        let mut files: HashMap<TileId, Files> = HashMap::new();
        let mut errors: HashMap<TileId, String> = HashMap::new();
        let mut other = None;
        for line in said.lines() {
            match S5cmdLine::parse(line, self.years) {
                Some(S5cmdLine::Copied { id, role, size }) => files.entry(id).or_default().set(role, size),
                Some(S5cmdLine::Failed { id, error }) => _ = errors.entry(id).or_insert(error),
                None if !line.trim().is_empty() => _ = other.get_or_insert_with(|| line.trim().to_owned()),
                None => {}
            }
        }
        let mut outcome = Outcome::default();
        for row in chunk {
            let unconfirmed = || match &other {
                Some(line) => format!("s5cmd did not report it copied ({status}; it said: {line})"),
                None => format!("s5cmd did not report it copied ({status})"),
            };
            if let Some(error) = errors.remove(&row.id) {
                outcome.failed.push((row.id, format!("s5cmd: {error}")));
                continue;
            }
            match files.get(&row.id).and_then(|seen| seen.complete(row)) {
                Some(copied) => judge(&mut outcome, row, copied),
                None => outcome.failed.push((row.id, unconfirmed())),
            }
        }
        Ok(outcome)
    }

    /// After `rsync` or `cp`: each tile whose files all match the source's in size is copied.
    fn compare_folders(&self, chunk: &[ManifestRow], status: &ExitStatus, said: &str) -> Outcome {
        let (from, to) = (Path::new(self.from.as_str()), Path::new(self.to.as_str()));
        let mut outcome = Outcome::default();
        let tool = self.tool.name();
        let first_words = said.lines().find(|line| !line.trim().is_empty()).unwrap_or_default().trim();
        for row in chunk {
            let key = self.key(row.id);
            match compare_tile(&from.join(&key), &to.join(&key), self.links) {
                Ok(copied) => judge(&mut outcome, row, copied),
                Err(problem) if status.success() || first_words.is_empty() => outcome.failed.push((row.id, problem)),
                Err(problem) => outcome.failed.push((row.id, format!("{problem} ({tool} {status}: {first_words})"))),
            }
        }
        outcome
    }
}

/// Files a tile folder holds for a copy: the two `.npy` files and, if any, `SHA256`.
fn tile_files(folder: &Path) -> [String; 3] {
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    [format!("{name}.npy"), format!("{name}_scales.npy"), "SHA256".to_owned()]
}

/// The sizes at `target` when every file of the tile at `source` is there, complete, and its
/// own: a link, at the target or (unless `links` follows them) at the source, is not a copy.
fn compare_tile(source: &Path, target: &Path, links: Links) -> std::result::Result<(u64, u64), String> {
    let folder = |path: &Path| path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let judge = |path: &Path, links| LocalEntry::of(path, links).map_err(|err| err.to_string());
    if let LocalEntry::Link { to } = judge(source, links)? {
        return Err(link_at_source(&format!("folder {}", folder(source)), &to));
    }
    if let LocalEntry::Link { to } = judge(target, Links::Refused)? {
        return Err(link_at_target(&format!("folder {}", folder(target)), &to));
    }
    let mut sizes = [0u64; 2];
    for (n, file) in tile_files(source).iter().enumerate() {
        let want = match judge(&source.join(file), links)? {
            LocalEntry::Own { len } => len,
            LocalEntry::Absent if n == 2 => continue,
            LocalEntry::Absent => return Err(format!("the source's {file} is not there")),
            LocalEntry::Link { to } => return Err(link_at_source(file, &to)),
        };
        if n < 2 && want == 0 {
            return Err(format!("the source's {file} is empty"));
        }
        let got = match judge(&target.join(file), Links::Refused)? {
            LocalEntry::Own { len } => len,
            LocalEntry::Absent => return Err(format!("{file} not at the target")),
            LocalEntry::Link { to } => return Err(link_at_target(file, &to)),
        };
        if got != want {
            return Err(format!("{file}: {got} of {want} bytes at the target"));
        }
        if n < 2 {
            sizes[n] = got;
        }
    }
    Ok((sizes[0], sizes[1]))
}

/// Why a tile whose source holds a link is not copied, and what to do.
fn link_at_source(name: &str, to: &Path) -> String {
    let to = to.display();
    format!(
        "the source's {name} is a symbolic link (to {to}): a link is never a copy; --copy-links copies what it points to"
    )
}

/// Why a link at the target is not a copy: it was there before, or the tool made it from a
/// link at the source, which is then named instead.
fn link_at_target(name: &str, to: &Path) -> String {
    let to = to.display();
    format!("the target's {name} is a symbolic link (to {to}): a link is never a copy; delete it and sync again")
}

/// Sorts a tile whose files all arrived: copied, or copied with sizes other than expected.
fn judge(outcome: &mut Outcome, expected: &ManifestRow, (file_size, scales_size): (u64, u64)) {
    let copied = ManifestRow { id: expected.id, file_size: Some(file_size), scales_size: Some(scales_size) };
    let differs = |want: Option<u64>, got: u64| want.is_some_and(|want| want != got);
    if differs(expected.file_size, file_size) || differs(expected.scales_size, scales_size) {
        let want = |size: Option<u64>| size.map_or("?".to_owned(), |s| s.to_string());
        let problem = format!(
            "copied, but {file_size} + {scales_size} bytes where the registry says {} + {}",
            want(expected.file_size),
            want(expected.scales_size)
        );
        outcome.differ.push((expected.id, problem));
    }
    outcome.copied.push(copied);
}

/// What `s5cmd` reported of one tile's files: the sizes of the `.npy` files copied.
#[derive(Debug, Default)]
struct Files {
    embeddings: Option<Option<u64>>,
    scales: Option<Option<u64>>,
}

impl Files {
    fn set(&mut self, role: Role, size: Option<u64>) {
        match role {
            Role::Embeddings => self.embeddings = Some(size),
            Role::Scales => self.scales = Some(size),
            Role::Sha256 => {}
        }
    }

    /// The sizes when both `.npy` files were copied, non-empty. A server-side copy reports no
    /// size: the object is the source's, whose size is the expected one.
    fn complete(&self, expected: &ManifestRow) -> Option<(u64, u64)> {
        let size =
            |seen: Option<Option<u64>>, want: Option<u64>| -> Option<u64> { seen?.or(want).filter(|&size| size > 0) };
        Some((size(self.embeddings, expected.file_size)?, size(self.scales, expected.scales_size)?))
    }
}

/// One line of `s5cmd --json` output that names a tile.
#[derive(Debug, PartialEq)]
enum S5cmdLine {
    Copied { id: TileId, role: Role, size: Option<u64> },
    Failed { id: TileId, error: String },
}

impl S5cmdLine {
    fn parse(line: &str, years: YearRange) -> Option<S5cmdLine> {
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        if let Some(error) = json["error"].as_str() {
            // `"command": "cp SRC DST"`: the destination names the tile.
            let command = json["command"].as_str()?;
            let (id, _) = command.split_whitespace().rev().find_map(|token| tile_in(token, years))?;
            return Some(S5cmdLine::Failed { id, error: error.to_owned() });
        }
        if json["success"] != true {
            return None;
        }
        let (id, role) = tile_in(json["destination"].as_str()?, years)?;
        Some(S5cmdLine::Copied { id, role: role?, size: json["object"]["size"].as_u64() })
    }
}

/// Runs `command` with `input` on its stdin; returns its exit status and everything it printed
/// (stdout, then stderr). The child dies with this process (see [`die_with_parent`]).
fn run(mut command: Command, input: &[u8]) -> Result<(ExitStatus, String)> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    die_with_parent(&mut command);
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child: Child = command.spawn().with_context(|| format!("cannot run {program} (is it installed?)"))?;
    let mut stdin = child.stdin.take().context("a piped stdin")?;
    let stderr = child.stderr.take().context("a piped stderr")?;
    let (said_err, said_out) = std::thread::scope(|scope| {
        // Read stderr beside stdout, and feed stdin from a third thread, so no pipe fills up.
        let err = scope.spawn(|| read_all(stderr));
        scope.spawn(move || {
            // A tool that exits early closes its stdin: what it did not read is judged below.
            let _ = stdin.write_all(input);
        });
        let out = child.stdout.take().map(read_all).unwrap_or_default();
        (err.join().unwrap_or_default(), out)
    });
    let status = child.wait().with_context(|| format!("waiting for {program}"))?;
    Ok((status, said_out + &said_err))
}

fn read_all(from: impl io::Read) -> String {
    let mut text = String::new();
    for line in BufReader::new(from).lines().map_while(Result::ok) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Makes the child receive SIGKILL when the thread that spawned it dies, so a copy tool never
/// outlives a killed `tessera sync` and rewrites a file after a resumed sync recorded it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it calls prctl(2) and getppid(2), allocates
    // nothing and takes no lock. If this process died before prctl took effect, the child
    // already has another parent and stops instead of copying unobserved.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_engine::grid::{DEFAULT_YEARS, Tile};

    fn id(key: &str) -> TileId {
        DEFAULT_YEARS.id(Tile::parse_key(key).unwrap()).unwrap()
    }

    #[test]
    fn s5cmd_json_lines_name_the_tile_the_file_and_the_size() {
        let copied = r#"{"operation":"cp","success":true,"source":"/src/2024/grid_0.85_49.95/grid_0.85_49.95_scales.npy","destination":"s3://b/v1/2024/grid_0.85_49.95/grid_0.85_49.95_scales.npy","object":{"type":"file","size":2}}"#;
        let expected = S5cmdLine::Copied { id: id("2024/grid_0.85_49.95"), role: Role::Scales, size: Some(2) };
        assert_eq!(S5cmdLine::parse(copied, DEFAULT_YEARS), Some(expected));
        let server_side = r#"{"operation":"cp","success":true,"source":"s3://b/v1/2024/grid_0.85_49.95/grid_0.85_49.95.npy","destination":"s3://b/v2/2024/grid_0.85_49.95/grid_0.85_49.95.npy","object":{"key":"s3://b/v2/2024/grid_0.85_49.95/grid_0.85_49.95.npy","type":"file"}}"#;
        let expected = S5cmdLine::Copied { id: id("2024/grid_0.85_49.95"), role: Role::Embeddings, size: None };
        assert_eq!(S5cmdLine::parse(server_side, DEFAULT_YEARS), Some(expected));
        let failed = r#"{"operation":"cp","command":"cp /src/2024/grid_1.05_49.95/* s3://b/v1/2024/grid_1.05_49.95/","error":"no match found for \"/src/2024/grid_1.05_49.95/*\""}"#;
        let Some(S5cmdLine::Failed { id: failed_id, error }) = S5cmdLine::parse(failed, DEFAULT_YEARS) else {
            panic!("an error line");
        };
        assert_eq!(failed_id, id("2024/grid_1.05_49.95"));
        assert!(error.starts_with("no match found"));
        assert_eq!(S5cmdLine::parse("ERROR something else", DEFAULT_YEARS), None);
    }

    #[test]
    fn a_tile_is_copied_only_with_both_npy_files_non_empty() {
        let expected = ManifestRow { id: id("2024/grid_0.85_49.95"), file_size: Some(4), scales_size: Some(2) };
        let mut files = Files::default();
        files.set(Role::Embeddings, Some(4));
        files.set(Role::Sha256, Some(180));
        assert_eq!(files.complete(&expected), None);
        files.set(Role::Scales, Some(0));
        assert_eq!(files.complete(&expected), None);
        files.set(Role::Scales, None);
        assert_eq!(files.complete(&expected), Some((4, 2)), "a server-side copy has the source's sizes");
    }
}
