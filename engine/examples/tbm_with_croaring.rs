//! A `.tbm` index file is a 72-byte header and then a bitmap in the portable Roaring format,
//! so any Roaring library reads it: here CRoaring (through the `croaring` crate) opens a store's
//! index and agrees with the engine's own reader on every id. In Python, `pyroaring` does the
//! same with `BitMap.deserialize(data[72:])`.
//!
//! ```sh
//! tessera init --small --demo demo
//! cargo run -p tessera-engine --example tbm_with_croaring -- demo/stores/scaleway.tbm
//! ```

use std::process::ExitCode;

use croaring::{Bitmap, Portable};
use tessera_engine::grid::DEFAULT_YEARS;
use tessera_engine::inventory::{INDEX_HEADER_LEN, open_index};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path] = args.as_slice() else {
        eprintln!("usage: tbm_with_croaring STORE.tbm");
        return ExitCode::from(2);
    };
    match run(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tbm_with_croaring: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    let payload = bytes.get(INDEX_HEADER_LEN..).ok_or("shorter than an index header")?;
    let theirs = Bitmap::try_deserialize::<Portable>(payload).ok_or("not a portable Roaring bitmap")?;
    // The engine's reader checks the header too (magic, version, checksum, and the years:
    // those of an inventory made with the default 2017..2025).
    let ours = open_index(path.as_ref(), DEFAULT_YEARS)?;
    let same = ours.to_vec() == theirs.to_vec();
    println!("{path}: {} tiles, ids {:?}..={:?}", theirs.cardinality(), theirs.minimum(), theirs.maximum());
    if !same {
        return Err("CRoaring and the engine read different ids".into());
    }
    println!("CRoaring and the engine read the same {} ids", theirs.cardinality());
    Ok(())
}
