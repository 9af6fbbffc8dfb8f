//! Symbolic links in a directory store: a link is never a copy. `sync` with `cp` or `rsync`
//! (`-a` copies a link as a link) records no tile whose files or folder are links, and says
//! why; `--copy-links` copies what the links point to; `scan --list` judges a folder holding
//! a link as `sync` does. Real files in temporary directories, the real `cp` and `rsync`.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tiles::{Tile, write_registry};
use common::tools::require;

/// A primary built of links (`elsewhere` holds the bytes), an empty mirror, their inventory.
struct Stores {
    _temp: tempfile::TempDir,
    root: PathBuf,
    inventory: PathBuf,
    /// A tile of real files.
    whole: Tile,
    /// A tile whose `.npy` file is a link into `elsewhere`.
    linked_file: Tile,
    /// A tile whose folder is a link into `elsewhere`.
    linked_folder: Tile,
}

impl Stores {
    fn new() -> Stores {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().to_owned();
        let tile = |k: u8| Tile {
            year: 2024,
            lon_i: 85 + 10 * i32::from(k),
            lat_i: 4995,
            embeddings: vec![k; 700 + usize::from(k)],
            scales: vec![7 + k; 60],
        };
        let tiles = [tile(0), tile(1), tile(2)];
        write_registry(&root.join("registry.parquet"), &tiles);
        let [whole, linked_file, linked_folder] = tiles;
        let (primary, elsewhere) = (root.join("primary"), root.join("elsewhere"));
        fs::create_dir_all(root.join("mirror")).expect("mkdir");
        whole.write_folder(&primary);
        linked_file.write_folder(&primary);
        let npy = format!("{}.npy", linked_file.name());
        let moved = elsewhere.join(&npy);
        fs::create_dir_all(&elsewhere).expect("mkdir");
        fs::rename(primary.join(linked_file.key()).join(&npy), &moved).expect("move");
        symlink(&moved, primary.join(linked_file.key()).join(&npy)).expect("a file link");
        linked_folder.write_folder(&elsewhere);
        symlink(elsewhere.join(linked_folder.key()), primary.join(linked_folder.key())).expect("a folder link");
        let stores = Stores { inventory: root.join("inventory"), root, _temp: temp, whole, linked_file, linked_folder };
        let (okavango, mirror) = (stores.path("primary"), stores.path("mirror"));
        stores.ok(&[
            "init",
            "--store",
            &format!("okavango=primary,{okavango},https://p"),
            "--store",
            &format!("mirror=mirror,{mirror},https://m"),
        ]);
        stores.ok(&["import", &stores.path("registry.parquet")]);
        // The primary is built of links on purpose: a `find -L` listing counts what they point to.
        let listing = Command::new("find").args(["-L", &okavango, "-type", "f", "-printf", "%s %p\\n"]).output();
        stores.ok_with(&["scan", "okavango", "--strict"], &listing.expect("find runs").stdout);
        stores
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    fn tessera(&self, args: &[&str], stdin: &[u8]) -> Output {
        common::run(&self.inventory, args, stdin)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, b"")
    }

    fn ok_with(&self, args: &[&str], stdin: &[u8]) -> String {
        let output = self.tessera(args, stdin);
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "tessera {args:?}: {said}");
        said
    }

    /// The keys the mirror lacks of the primary's.
    fn missing(&self) -> Vec<String> {
        common::missing(&self.inventory, "mirror")
    }

    /// Whether the mirror holds `tile` in files of its own (no link on the way) of the right sizes.
    fn mirror_holds(&self, tile: &Tile) -> bool {
        let folder = self.root.join("mirror").join(tile.key());
        let own_size =
            |path: &Path| fs::symlink_metadata(path).ok().filter(|meta| meta.is_file()).map(|meta| meta.len());
        let folder_is_own = fs::symlink_metadata(&folder).is_ok_and(|meta| meta.is_dir());
        let embeddings = own_size(&folder.join(format!("{}.npy", tile.name())));
        let scales = own_size(&folder.join(format!("{}_scales.npy", tile.name())));
        folder_is_own && embeddings == Some(tile.embeddings.len() as u64) && scales == Some(tile.scales.len() as u64)
    }
}

/// Without --copy-links, `cp -a` and `rsync -a` copy the primary's links as links: the tiles
/// they make up are failed, with the reason and the way out, and never recorded. With it (into
/// a fresh mirror), the mirror gets files of its own and every tile is recorded. (Before, the
/// check compared sizes through the links and recorded a mirror of links into other disks.)
#[test]
fn a_copy_of_a_link_is_never_recorded_and_copy_links_copies_the_files() {
    let mut tools = vec!["cp"];
    if require(["rsync"]).is_some() {
        tools.push("rsync");
    }
    for tool in tools {
        let stores = Stores::new();
        let sync = ["sync", "okavango", "mirror", "--tool", tool, "--retries", "0"];
        let failed = stores.tessera(&sync, b"");
        let said = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(1), "{tool}: {said}");
        assert!(said.contains(&format!("with {tool}: 1 of 3 tiles copied and recorded")), "{tool}: {said}");
        let npy = format!("{}.npy", stores.linked_file.name());
        for (key, what) in [(stores.linked_file.key(), npy), (stores.linked_folder.key(), "folder".to_owned())] {
            let named = format!("failed: {key} (the source's {what}");
            assert!(said.contains(&named), "{tool}: {named} in {said}");
        }
        assert!(said.contains("is a symbolic link") && said.contains("--copy-links copies"), "{tool}: {said}");
        assert_eq!(stores.missing(), [stores.linked_file.key(), stores.linked_folder.key()], "{tool}");
        assert!(stores.mirror_holds(&stores.whole), "{tool}");

        let stores = Stores::new();
        let copied = stores.ok(&[&sync[..], &["--copy-links"]].concat());
        assert!(copied.contains(&format!("with {tool}: 3 of 3 tiles copied and recorded")), "{tool}: {copied}");
        assert!(stores.missing().is_empty(), "{tool}");
        for tile in [&stores.whole, &stores.linked_file, &stores.linked_folder] {
            assert!(stores.mirror_holds(tile), "{tool}: {} is not in files of the mirror's own", tile.key());
        }
    }
}

/// After a sync without --copy-links the mirror holds links: `scan --list` of it names them and
/// finds the inventory sync left (the same tiles lacking), where before sync had recorded every
/// tile and the walk counted the link's own size. A sync with --copy-links then replaces the
/// links with files (never writing through them into the primary's), and a strict walk agrees.
#[test]
fn scan_list_and_sync_agree_on_a_folder_holding_a_link() {
    for tool in ["cp", "rsync"] {
        if tool == "rsync" && require(["rsync"]).is_none() {
            continue;
        }
        let stores = Stores::new();
        let sync = ["sync", "okavango", "mirror", "--tool", tool, "--retries", "0"];
        assert_eq!(stores.tessera(&sync, b"").status.code(), Some(1), "{tool}");
        let after_sync = stores.missing();
        assert_eq!(after_sync, [stores.linked_file.key(), stores.linked_folder.key()], "{tool}");

        let report = stores.root.join("report.txt");
        let scan = stores.ok(&["scan", "mirror", "--list", "--report", report.to_str().expect("utf-8")]);
        assert_eq!(stores.missing(), after_sync, "{tool}: the walk agrees with the sync: {scan}");
        assert!(scan.contains("1 tile present, 1 partial tile,"), "{tool}: {scan}");
        assert!(scan.contains("2 symbolic links not counted"), "{tool}: {scan}");
        let npy = format!("{}.npy", stores.linked_file.name());
        let file_link = format!("link {}/{npy} -> {}/{npy}", stores.linked_file.key(), stores.path("elsewhere"));
        let folder_link = format!("link {} -> {}", stores.linked_folder.key(), stores.path("elsewhere"));
        let partial = format!("partial {}: lacks {npy}", stores.linked_file.key());
        let listed = fs::read_to_string(&report).expect("the report");
        for named in [&file_link, &folder_link, &partial] {
            assert!(scan.contains(&format!("tessera: {named}")), "{tool}: {named} in {scan}");
            assert!(listed.contains(named.as_str()), "{tool}: {named} in {listed}");
        }
        let strict = stores.tessera(&["scan", "mirror", "--list", "--strict"], b"");
        let said = String::from_utf8_lossy(&strict.stderr);
        assert_eq!(strict.status.code(), Some(2), "{tool}: {said}");
        assert!(said.contains("--strict: 2 symbolic links; nothing was written"), "{tool}: {said}");

        // --copy-links: the file link is replaced (rsync replaces the folder link too; cp
        // refuses to put a folder over it, and the check says to delete it).
        let copied = stores.tessera(&[&sync[..], &["--copy-links"]].concat(), b"");
        let said = String::from_utf8_lossy(&copied.stderr);
        let elsewhere = fs::read(stores.root.join("elsewhere").join(&npy)).expect("the primary's bytes");
        assert_eq!(elsewhere, stores.linked_file.embeddings, "{tool}: never written through a link");
        assert!(stores.mirror_holds(&stores.linked_file), "{tool}: {said}");
        if tool == "cp" {
            let folder = stores.linked_folder.name();
            let named = format!("the target's folder {folder} is a symbolic link");
            assert!(said.contains(&named) && said.contains("delete it and sync again"), "{said}");
            fs::remove_file(stores.root.join("mirror").join(stores.linked_folder.key())).expect("rm the link");
            stores.ok(&[&sync[..], &["--copy-links"]].concat());
        }
        assert!(stores.mirror_holds(&stores.linked_folder), "{tool}");
        assert!(stores.missing().is_empty(), "{tool}");
        stores.ok(&["scan", "mirror", "--list", "--strict"]);
        assert!(stores.missing().is_empty(), "{tool}: a strict walk agrees");
    }
}
