//! The diff kernels as a browser runs them: `tessera_engine::bitmap::kernels` compiled to
//! WebAssembly, for `benches/wasm/run.sh` to time in headless Chromium on the bytes of the same
//! index files the native benches read. Empty on other targets.

#[cfg(target_arch = "wasm32")]
mod exported {
    use tessera_engine::bitmap::{RoaringView, kernels};
    use wasm_bindgen::prelude::*;

    /// Two stores' tiles (portable Roaring: an index file's payload), held in the module's
    /// memory so that a timed call copies nothing across the boundary.
    #[wasm_bindgen]
    #[derive(Debug)]
    pub struct Pair {
        a: RoaringView<Vec<u8>>,
        b: RoaringView<Vec<u8>>,
    }

    #[wasm_bindgen]
    impl Pair {
        /// Checks both bitmaps as the engine checks any it reads.
        #[wasm_bindgen(constructor)]
        pub fn new(a: Vec<u8>, b: Vec<u8>) -> Result<Pair, JsError> {
            let open = |bytes| RoaringView::open(bytes).map_err(|err| JsError::new(&err.to_string()));
            Ok(Pair { a: open(a)?, b: open(b)? })
        }

        /// How many tiles of `a` are not in `b`.
        pub fn count(&self) -> f64 {
            kernels::andnot_count(&self.a, &self.b) as f64
        }

        /// The same diff as ids; returns how many there are.
        pub fn ids(&self) -> u32 {
            kernels::andnot_ids(&self.a, &self.b).len() as u32
        }
    }
}
