//! The coverage map web app (step 4).
//!
//! It links the engine with its default features off, so the grid, the zero-copy bitmap reader
//! and the diff kernels compile for `wasm32-unknown-unknown`: CI builds this crate for that target.

pub use tessera_engine::grid;
