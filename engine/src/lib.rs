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
//! - With the default `disk` feature: [`registry`] and [`manifest`] (parquet), `index` (the
//!   memory-mapped `.tbm` files), [`journal`] (fsynced records of copies, kill -9 safe),
//!   [`store`] (one store's files and every write to them, under its lock) and [`inventory`]
//!   (a directory of stores, opened in microseconds).
//!
//! The crate has no async runtime, no HTTP and no terminal output: it returns values, writes to
//! a caller's `io::Write`, and reports problems through one [`Error`] type.

#![warn(missing_docs, unreachable_pub)]

pub mod bitmap;
pub mod copylist;
pub mod error;
pub mod grid;
pub mod listing;
pub mod storage;

#[cfg(feature = "disk")]
pub mod details;
#[cfg(feature = "disk")]
mod fsutil;
#[cfg(feature = "disk")]
mod index;
#[cfg(feature = "disk")]
pub mod inventory;
#[cfg(feature = "disk")]
pub mod journal;
#[cfg(feature = "disk")]
pub mod manifest;
#[cfg(feature = "disk")]
pub mod notice;
#[cfg(feature = "disk")]
mod parquet_io;
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
pub use storage::{CopyTool, Storage};

/// The README's code, compiled by the doc tests so that it keeps working as written.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
