//! The tessera engine: the tile grid, store manifests, zero-copy Roaring views and the diff
//! engine that turns "what does each store hold" into set operations.
//!
//! - [`grid`]: cells, years, dense [`grid::TileId`]s, names and bounding boxes (exact integers).
//! - [`bitmap`]: [`bitmap::RoaringView`], a reader of the portable Roaring format over any byte
//!   slice (a memory map, a `Vec`, a download in the browser) that never copies or deserialises,
//!   and the set kernels over two views (andnot, and, counts) written for near-identical mirrors.
//! - [`copylist`]: copy-list keys rendered from precomputed coordinate strings.
//! - [`storage`]: where a store's folders live (a directory or an S3 prefix) and which copy
//!   tools can move tiles between two of them.
//! - [`listing`]: the tiles a store holds, from `s5cmd`, `find`, `rclone` or `aws s3` listings.
//! - With the default `disk` feature: [`registry`] (the upstream parquet, and its [`details`]
//!   table of sizes and hashes), [`store`] (one store's files and every write to them, under
//!   its lock: its parquet [`manifest`] and its [`journal`] of fsynced records, kill -9 safe)
//!   and [`inventory`] (a directory of stores, opened in microseconds, from memory-mapped
//!   `.tbm` indexes).
//! - With the default `query` feature: [`query`], CQL2 filters, boxes, geometries, years and
//!   ids compiled into plans answered as set algebra over the stores' bitmaps.
//!
//! The crate has no async runtime, no HTTP and no terminal output: it returns values, writes to
//! a caller's `io::Write`, and reports problems through one [`Error`] type.

#![warn(missing_docs, unreachable_pub)]

pub mod bitmap;
pub mod copylist;
pub mod error;
pub mod grid;
pub mod listing;
pub mod stac;
pub mod storage;

#[cfg(feature = "disk")]
pub mod checksums;
#[cfg(feature = "disk")]
pub mod details;
#[cfg(feature = "disk")]
mod file_bytes;
#[cfg(feature = "disk")]
mod fsutil;
#[cfg(feature = "disk")]
mod index;
#[cfg(feature = "disk")]
pub mod inventory;
#[cfg(feature = "disk")]
pub mod notice;
#[cfg(feature = "disk")]
mod parquet_io;
#[cfg(feature = "query")]
pub mod query;
#[cfg(feature = "disk")]
pub mod registry;
#[cfg(feature = "disk")]
pub mod store;

// What an embedder uses, at the root: `use tessera_engine::{Inventory, Filter, Bbox};`.
pub use bitmap::RoaringView;
pub use copylist::{KeyStyle, KeyWriter};
pub use error::{Error, IndexProblem, Result};
pub use grid::{Bbox, Cell, IdRange, Tile, TileId, YearRange};
#[cfg(feature = "disk")]
pub use inventory::{ChangeStamp, Filter, Inventory, TileSet};
#[cfg(feature = "disk")]
pub use notice::Notice;
// A store's manifest and journal live in `store/`; their types are used widely enough to be
// reached from the root too: `tessera_engine::manifest::ManifestRow`.
pub use storage::{CopyTool, Storage};
#[cfg(feature = "disk")]
pub use store::{journal, manifest};

/// The README's code, compiled by the doc tests so that it keeps working as written.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
