//! The coverage map: a Leptos app compiled to WebAssembly that draws, on a MapLibre map, which
//! 0.1-degree tiles each store holds or lacks, from the server's coverage bitmaps read by the
//! engine's own zero-copy reader (the same code the server runs, default features off).
//!
//! - [`bbox`]: boxes drawn on the map, snapped to the grid.
//! - [`paint`]: bitmaps to an RGBA canvas in Web Mercator rows (exact cell footprints).
//! - [`view`]: the URL state (year, layer, zoom, centre, tile).
//! - `app` and `maplibre` (wasm32 only): the UI and the MapLibre GL JS bindings.

pub mod bbox;
pub mod paint;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod maplibre;

pub use tessera_engine::grid;

/// Mounts the app: `index.html` calls this through `init()` once `window.maplibregl` is set.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
