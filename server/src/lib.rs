//! The STAC API server over a tessera inventory.
//!
//! Built in step 3 (`tessera serve`): hyper 1.x on tokio, reading the same memory-mapped
//! indexes as the CLI. This crate is a placeholder until then, so the workspace layout is fixed.
