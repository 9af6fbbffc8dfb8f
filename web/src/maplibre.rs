//! The few MapLibre GL JS calls the app makes, bound through `wasm-bindgen` to the global
//! `maplibregl` that `index.html` sets before the app starts.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A `maplibregl.Map`.
    #[wasm_bindgen(js_namespace = maplibregl, js_name = Map)]
    #[derive(Clone, Debug)]
    pub type Map;

    #[wasm_bindgen(constructor, js_namespace = maplibregl, js_class = "Map")]
    pub fn new(options: &JsValue) -> Map;

    #[wasm_bindgen(method)]
    pub fn on(this: &Map, event: &str, listener: &js_sys::Function);

    #[wasm_bindgen(method)]
    pub fn once(this: &Map, event: &str, listener: &js_sys::Function);

    #[wasm_bindgen(method, js_name = addSource)]
    pub fn add_source(this: &Map, id: &str, source: &JsValue);

    #[wasm_bindgen(method, js_name = removeSource)]
    pub fn remove_source(this: &Map, id: &str);

    #[wasm_bindgen(method, js_name = getSource)]
    pub fn get_source(this: &Map, id: &str) -> JsValue;

    #[wasm_bindgen(method, js_name = addLayer)]
    pub fn add_layer(this: &Map, layer: &JsValue, before: Option<String>);

    #[wasm_bindgen(method, js_name = removeLayer)]
    pub fn remove_layer(this: &Map, id: &str);

    #[wasm_bindgen(method, js_name = getLayer)]
    pub fn get_layer(this: &Map, id: &str) -> JsValue;

    #[wasm_bindgen(method, js_name = getZoom)]
    pub fn get_zoom(this: &Map) -> f64;

    #[wasm_bindgen(method, js_name = getCenter)]
    pub fn get_center(this: &Map) -> JsValue;

    #[wasm_bindgen(method, js_name = flyTo)]
    pub fn fly_to(this: &Map, options: &JsValue);

    #[wasm_bindgen(method, js_name = fitBounds)]
    pub fn fit_bounds(this: &Map, bounds: &JsValue, options: &JsValue);

    /// Whether a source's data is loaded; an error when there is no such source.
    #[wasm_bindgen(method, catch, js_name = isSourceLoaded)]
    pub fn is_source_loaded(this: &Map, id: &str) -> Result<bool, JsValue>;

    #[wasm_bindgen(method, js_name = triggerRepaint)]
    pub fn trigger_repaint(this: &Map);
}

/// Sets `object[key] = value` on a plain JS object.
pub fn set(object: &JsValue, key: &str, value: impl Into<JsValue>) {
    let _ = js_sys::Reflect::set(object, &JsValue::from_str(key), &value.into());
}

/// Reads `object[key]` as a number.
pub fn number(object: &JsValue, key: &str) -> Option<f64> {
    js_sys::Reflect::get(object, &JsValue::from_str(key)).ok()?.as_f64()
}

/// Calls `object.method()`, ignoring what it returns (or that it is missing).
pub fn call0(object: &JsValue, method: &str) {
    let function =
        js_sys::Reflect::get(object, &JsValue::from_str(method)).and_then(|f| f.dyn_into::<js_sys::Function>());
    if let Ok(function) = function {
        let _ = function.call0(object);
    }
}

/// A JS value from JSON text (for style and layer specifications).
pub fn json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or(JsValue::NULL)
}
