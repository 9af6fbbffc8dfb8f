//! Shared setup for the benches: the demo inventory they run on.
//!
//! `cargo bench` runs on the full demo inventory (about 3.8M tiles, generated once into
//! `target/bench-demo`, or `$TESSERA_BENCH_INVENTORY`). When the benches run as tests
//! (`cargo test --all-targets`, each bench once) they use the small demo, so CI stays fast.

use std::path::{Path, PathBuf};

use tessera_engine::inventory::Inventory;
use tessera_fixtures::{DemoSize, DemoSpec};

/// Whether this process is a real benchmark run (`cargo bench` passes `--bench`).
pub fn is_bench_run() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// The directory of the demo inventory to measure, generated on first use.
pub fn demo_dir() -> PathBuf {
    let full = is_bench_run();
    let dir = match std::env::var_os("TESSERA_BENCH_INVENTORY") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_target().join(if full { "bench-demo" } else { "bench-demo-small" }),
    };
    if !dir.join("tessera.toml").exists() {
        let size = if full { DemoSize::Full } else { DemoSize::Small };
        eprintln!("generating the {size:?} demo inventory in {} (once)", dir.display());
        let spec = DemoSpec { size, ..DemoSpec::default() };
        tessera_fixtures::write_demo(&dir, &spec).expect("the demo inventory can be written");
    }
    dir
}

/// The machine a figure was measured on, for the line printed beside it: the CPU's vendor,
/// model name, family and model (as `lscpu` shows them, from `/proc/cpuinfo`) and how many
/// CPUs this process may use. The kernels' speed depends on the CPU more than croaring's does.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.split_once(':').filter(|(key, _)| key.trim() == name).map(|(_, v)| v.trim()))
            .unwrap_or("?")
            .to_owned()
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{} {} (family {}, model {}), {cpus} CPUs",
        field("vendor_id"),
        field("model name"),
        field("cpu family"),
        field("model")
    )
}

/// Opens the demo inventory (building its indexes on first use).
pub fn demo_inventory() -> Inventory {
    Inventory::open(demo_dir()).expect("the demo inventory opens")
}

fn workspace_target() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| here.join("../target"), PathBuf::from)
}
