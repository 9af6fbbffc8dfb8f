//! `tessera hash STORE`: one read of each of a store's files computes its SHA-256 and
//! CRC64NVME together (and its MD5 where an S3 store's ETags may need it), on a thread per
//! core, and records them in the inventory (`stores/NAME.sums`). Run once on the primary, it
//! lets every mirror be verified against it, an S3 mirror by the checksums S3 keeps itself.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Result, bail};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};
use tessera_engine::Storage;
use tessera_engine::checksums::{Checksums, FileSums, TileSums};
use tessera_engine::grid::{TileId, YearRange};

use crate::args::HashArgs;
use crate::open_inventory;

/// Bytes read at once. Small enough that what a read copies is still in the core's cache
/// when SHA-256 and CRC64NVME pass over it, and under the allocator's mmap threshold
/// (128 KiB): measured on the bench machine, 64 KiB hashes at 1.24 GB/s a core where 128 KiB
/// and above fall to 0.85 GB/s.
const READ_BUFFER: usize = 64 << 10;
/// How often what was hashed is saved: a killed run loses at most this much work.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// SHA-256, CRC64NVME and (optionally) MD5 of one stream of bytes, computed in one pass.
pub struct FileHasher {
    sha256: Sha256,
    crc64nvme: crc_fast::Digest,
    md5: Option<Md5>,
    size: u64,
}

impl FileHasher {
    /// A hasher; `md5` adds the MD5 (a single-part upload's ETag) to the checksums.
    pub fn new(md5: bool) -> FileHasher {
        FileHasher {
            sha256: Sha256::new(),
            crc64nvme: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme),
            md5: md5.then(Md5::default),
            size: 0,
        }
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.crc64nvme.update(bytes);
        if let Some(md5) = &mut self.md5 {
            md5::Digest::update(md5, bytes);
        }
        self.size += bytes.len() as u64;
    }

    /// The checksums of every byte added, with `mtime_ns` as the file's modification time.
    pub fn finish(self, mtime_ns: i64) -> FileSums {
        FileSums {
            size: self.size,
            mtime_ns,
            crc64nvme: self.crc64nvme.finalize(),
            sha256: self.sha256.finalize().into(),
            md5: self.md5.map(|md5| md5::Digest::finalize(md5).into()),
        }
    }

    /// The checksums of the file at `path`, read once through `buffer`.
    pub fn of_file(path: &Path, md5: bool, buffer: &mut [u8], progress: &ProgressBar) -> io::Result<FileSums> {
        let mut file = File::open(path)?;
        let mtime_ns = mtime_ns(&file.metadata()?);
        let mut hasher = FileHasher::new(md5);
        loop {
            let read = match file.read(buffer) {
                Ok(0) => return Ok(hasher.finish(mtime_ns)),
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            hasher.update(&buffer[..read]);
            progress.inc(read as u64);
        }
    }
}

/// A file's modification time in nanoseconds since the Unix epoch (0 when the system has none).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos() as i64)
}

/// The two data files of a tile, relative to a store's root: `2024/grid_0.15_49.95/...`.
pub fn data_files(years: YearRange, id: TileId) -> Option<[PathBuf; 2]> {
    let tile = years.tile(id).ok()?;
    let name = tile.cell.name().to_string();
    let folder = PathBuf::from(tile.year.to_string()).join(&name);
    Some([folder.join(format!("{name}.npy")), folder.join(format!("{name}_scales.npy"))])
}

/// Hashes the store's files that have not been recorded as they are now (every file with
/// `--force`), then records them. Returns whether every tile could be hashed.
pub fn run(dir: &Path, args: &HashArgs) -> Result<bool> {
    let mut inventory = open_inventory(dir)?;
    let store = inventory.store(&args.store)?;
    let root = match store.config.storage()? {
        Storage::Local(root) if Path::new(&root).is_dir() => PathBuf::from(root),
        Storage::Local(root) => bail!("the store's storage {root} is not a directory on this machine"),
        Storage::S3(url) => bail!(
            "{} is on S3 ({url}): hashing it would download every object. Hash the store the \
             copies were made from (the primary); `tessera verify {}` then checks this one by \
             the checksums S3 keeps",
            args.store,
            args.store
        ),
    };
    let md5 = args.md5 || inventory.stores().iter().any(|store| matches!(store.config.storage(), Ok(Storage::S3(_))));
    let years = inventory.years();
    let recorded = inventory.checksums(&args.store)?;
    let tiles: Vec<TileId> = store.tiles.to_vec().into_iter().map(TileId).collect();
    let Planned { to_hash, bytes, unchanged } = plan(&root, years, &tiles, &recorded, args.force);
    eprintln!(
        "tessera: hashing {} tiles of {} ({}; {unchanged} unchanged since they were hashed) with SHA-256, CRC64NVME{}",
        to_hash.len(),
        args.store,
        HumanBytes(bytes),
        if md5 { " and MD5 (an S3 store's ETags may need it)" } else { "" }
    );
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let started = Instant::now();
    let hashing = Hashing { root: &root, years, md5, tiles: &to_hash, next: AtomicUsize::new(0), progress: bar(bytes) };
    let (hashed, failed) = hashing.run(threads, |tiles| inventory.record_checksums(&args.store, tiles))?;
    hashing.progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "tessera: recorded the checksums of {hashed} tiles of {} in {seconds:.1} s ({}/s); {} could not be hashed",
        args.store,
        HumanBytes((bytes as f64 / seconds.max(1e-9)) as u64),
        failed.len()
    );
    for (id, problem) in failed.iter().take(20) {
        eprintln!("tessera: not hashed: {} ({problem})", crate::verify::key(years, *id));
    }
    Ok(failed.is_empty())
}

/// The tiles to hash and their bytes, found with one `stat` of each file.
struct Planned {
    to_hash: Vec<TileId>,
    bytes: u64,
    /// Tiles whose files have the size and modification time recorded when they were hashed.
    unchanged: usize,
}

/// Every tile with `force`; otherwise the tiles whose files differ in size or modification
/// time from what was recorded, or were never recorded.
fn plan(root: &Path, years: YearRange, tiles: &[TileId], recorded: &Checksums, force: bool) -> Planned {
    let mut planned = Planned { to_hash: Vec::new(), bytes: 0, unchanged: 0 };
    for &id in tiles {
        let files = data_files(years, id).unwrap_or_default();
        let found: Vec<Option<std::fs::Metadata>> =
            files.iter().map(|file| std::fs::metadata(root.join(file)).ok()).collect();
        let as_recorded = recorded.get(id).is_some_and(|sums| {
            found.iter().zip(sums.files).all(|(meta, sums)| {
                meta.as_ref().is_some_and(|meta| meta.len() == sums.size && mtime_ns(meta) == sums.mtime_ns)
            })
        });
        if as_recorded && !force {
            planned.unchanged += 1;
        } else {
            planned.to_hash.push(id);
            planned.bytes += found.iter().flatten().map(|meta| meta.len()).sum::<u64>();
        }
    }
    planned
}

/// One run's shared state: the queue of tiles, taken a few at a time by each worker.
struct Hashing<'a> {
    root: &'a Path,
    years: YearRange,
    md5: bool,
    tiles: &'a [TileId],
    next: AtomicUsize,
    progress: ProgressBar,
}

/// What the workers have hashed and not yet saved, and what they could not hash.
#[derive(Default)]
struct Found {
    unsaved: Vec<TileSums>,
    failed: Vec<(TileId, String)>,
}

impl Hashing<'_> {
    /// Hashes every tile on `threads` threads; `save` records what was hashed, every
    /// [`SAVE_EVERY`] and at the end. Returns the count hashed and the tiles that failed.
    fn run(
        &self,
        threads: usize,
        mut save: impl FnMut(&[TileSums]) -> tessera_engine::Result<()>,
    ) -> Result<(usize, Vec<(TileId, String)>)> {
        let found = Mutex::new(Found::default());
        let mut hashed = 0;
        let mut saved_at = Instant::now();
        std::thread::scope(|scope| -> Result<()> {
            let workers: Vec<_> = (0..threads).map(|_| scope.spawn(|| self.work(&found))).collect();
            while workers.iter().any(|worker| !worker.is_finished()) {
                std::thread::sleep(Duration::from_millis(100));
                if saved_at.elapsed() >= SAVE_EVERY {
                    hashed += self.save_found(&found, &mut save)?;
                    saved_at = Instant::now();
                }
            }
            Ok(())
        })?;
        hashed += self.save_found(&found, &mut save)?;
        let failed =
            std::mem::take(&mut found.lock().map_err(|_| anyhow::anyhow!("a hashing thread panicked"))?.failed);
        Ok((hashed, failed))
    }

    fn save_found(
        &self,
        found: &Mutex<Found>,
        save: &mut impl FnMut(&[TileSums]) -> tessera_engine::Result<()>,
    ) -> Result<usize> {
        let unsaved =
            std::mem::take(&mut found.lock().map_err(|_| anyhow::anyhow!("a hashing thread panicked"))?.unsaved);
        if !unsaved.is_empty() {
            save(&unsaved)?;
        }
        Ok(unsaved.len())
    }

    /// Takes one tile at a time: a tile's files outweigh the taking, and a few large tiles
    /// still spread over every thread.
    fn work(&self, found: &Mutex<Found>) {
        let mut buffer = vec![0u8; READ_BUFFER];
        while let Some(&id) = self.tiles.get(self.next.fetch_add(1, Ordering::Relaxed)) {
            let outcome = self.hash_tile(id, &mut buffer);
            let Ok(mut found) = found.lock() else { return };
            match outcome {
                Ok(sums) => found.unsaved.push(sums),
                Err(problem) => found.failed.push((id, problem)),
            }
        }
    }

    fn hash_tile(&self, id: TileId, buffer: &mut [u8]) -> std::result::Result<TileSums, String> {
        let files = data_files(self.years, id).ok_or("not a tile of the inventory's years")?;
        let mut sums = [FileSums::default(); 2];
        for (file, sums) in files.iter().zip(&mut sums) {
            let path = self.root.join(file);
            *sums = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(format!("{} is a symbolic link, not a file", file.display()));
                }
                Ok(_) => FileHasher::of_file(&path, self.md5, buffer, &self.progress)
                    .map_err(|err| format!("{}: {err}", path.display()))?,
                Err(err) => return Err(format!("{}: {err}", path.display())),
            };
        }
        Ok(TileSums { id, files: sums })
    }
}

fn bar(bytes: u64) -> ProgressBar {
    let bar = ProgressBar::new(bytes);
    let template = "hashing [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check values of the CRC64/NVME parameters (the CRC catalogue's, AWS's SDKs' test
    /// vector): S3 must compute the same for the same bytes.
    #[test]
    fn crc64nvme_matches_the_published_check_values() {
        let mut hasher = FileHasher::new(true);
        hasher.update(b"123456789");
        let sums = hasher.finish(0);
        assert_eq!(sums.crc64nvme, 0xAE8B_1486_0A79_9888);
        assert_eq!(sums.size, 9);
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(&sums.sha256), "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
        assert_eq!(sums.md5.map(|md5| hex(&md5[..])).as_deref(), Some("25f9e794323b453885f5181f1b624d0b"));
        // An empty object: S3's CRC64NVME of zero bytes is 0 ("AAAAAAAAAAA=").
        assert_eq!(FileHasher::new(false).finish(0).crc64nvme, 0);
    }

    #[test]
    fn hashing_in_pieces_equals_hashing_at_once() {
        let bytes: Vec<u8> = (0..100_000u32).map(|n| (n * 7 % 251) as u8).collect();
        let mut whole = FileHasher::new(true);
        whole.update(&bytes);
        let mut pieces = FileHasher::new(true);
        for piece in bytes.chunks(4093) {
            pieces.update(piece);
        }
        assert_eq!(whole.finish(5), pieces.finish(5));
    }
}
