//! The box tools: a box drawn on the map (a drag while "Draw a box" is on, or a shift-drag)
//! or typed, counted per store from the bitmaps and in the registry by `/search`, with its
//! copy lists.

use leptos::prelude::*;
use tessera_engine::bitmap::{RoaringView, kernels};
use tessera_engine::grid::{Bbox, YearRange};
use tessera_engine::storage::{CopyTool, Storage};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::{MODEL, Signals, StoreInfo, bitmaps, fetch_json, lng_lat, show_feature};
use crate::bbox;
use crate::maplibre::{self, Map};

/// The box a user drew or typed, and what is in it.
#[derive(Clone, Copy)]
pub(super) struct BoxSignals {
    /// The text in the box field.
    pub text: RwSignal<String>,
    /// The box last drawn or submitted.
    pub chosen: RwSignal<Option<Bbox>>,
    pub counts: RwSignal<Option<BoxCounts>>,
    /// Why the typed box was refused, naming it.
    pub error: RwSignal<Option<String>>,
    /// Whether a drag on the map draws a box (instead of panning).
    pub drawing: RwSignal<bool>,
}

/// Tiles in a box, in one year: the registry's (from `/search`) and each store's.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxCounts {
    pub bbox: Bbox,
    pub year: u16,
    pub registry: Option<u64>,
    pub stores: Vec<(String, u64)>,
}

/// The box tools: draw one on the map (or shift-drag anytime) or type it; then its counts per
/// store, from the cached bitmaps, and the registry's from `/search`, with the copy lists.
#[component]
pub(super) fn BoxPanel(signals: Signals) -> impl IntoView {
    let boxed = signals.boxed;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match Bbox::parse(&boxed.text.get_untracked()) {
            Ok(bbox) => choose_box(signals, bbox),
            Err(err) => {
                boxed.counts.set(None);
                boxed.error.set(Some(err.to_string()));
            }
        }
    };
    view! {
        <form id="bbox-form" on:submit=submit>
            <label>"Box (west,south,east,north) "
                <input id="bbox" type="text" placeholder="0,45,10,55" prop:value=move || boxed.text.get()
                    on:input=move |ev| boxed.text.set(event_target_value(&ev)) />
            </label>
            <button type="submit">"Count"</button>
            <button id="draw-box" type="button" aria-pressed=move || boxed.drawing.get().to_string()
                on:click=move |_| boxed.drawing.update(|on| *on = !*on)>"Draw a box"</button>
        </form>
        <p class="hint">{move || if boxed.drawing.get() {
            "Drag on the map to draw the box (Esc to stop)."
        } else {
            "Or shift-drag on the map."
        }}</p>
        {move || boxed.error.get().map(|err| view! { <p id="bbox-error" class="message" role="alert">{err}</p> })}
        {move || boxed.counts.get().map(|counts| box_counts_view(signals, counts))}
    }
}

fn box_counts_view(signals: Signals, counts: BoxCounts) -> impl IntoView {
    let stores = signals.stores.get_untracked();
    let primary = stores.iter().find(|s| s.primary).map(|s| s.name.clone()).unwrap_or_default();
    let query = format!("year={}&bbox={}", counts.year, counts.bbox);
    let search =
        super::api_path(&format!("/search?collections=geotessera-{}&bbox={}&limit=100", counts.year, counts.bbox));
    let registry = counts.registry.map(|n| {
        view! { <li id="bbox-registry" data-tiles=n.to_string()>{format!("registry: {n} tiles ")}<a href=search>"STAC items"</a></li> }
    });
    view! {
        <ul id="bbox-counts" data-bbox=counts.bbox.to_string() data-year=counts.year.to_string()>
            {registry}
            {counts.stores.into_iter().map(|(store, n)| {
                let copyable = |name: &str| stores.iter().any(|s| s.name == name && s.has_storage());
                let links = (store != primary && copyable(&primary) && copyable(&store)).then(|| {
                    let base = super::api_path(&format!("/copylist/{primary}/{store}?{query}"));
                    let (tool, label) = match copy_tool(&stores, &primary, &store) {
                        CopyTool::S5cmd => ("s5cmd", "s5cmd run"),
                        CopyTool::Rsync | CopyTool::Cp => ("rsync", "rsync --files-from"),
                    };
                    view! {
                        " copy list: " <a class="copylist" data-store=store.clone() href=format!("{base}&format=keys") download="">"keys"</a>
                        " " <a class="copylist-tool" data-tool=tool href=format!("{base}&format={tool}") download="">{label}</a>
                    }
                });
                view! { <li class="bbox-store" data-store=store.clone() data-tiles=n.to_string()>{format!("{store}: {n} tiles")}{links}</li> }
            }).collect_view()}
        </ul>
    }
}

/// The tool that copies from `source` to `target`, from their storages (as `tessera diff
/// --emit-copylist` chooses it): s5cmd when S3 is on a side, rsync between two directories.
pub(super) fn copy_tool(stores: &[StoreInfo], source: &str, target: &str) -> CopyTool {
    let storage = |name: &str| stores.iter().find(|s| s.name == name).and_then(|s| Storage::parse(&s.storage).ok());
    match (storage(source), storage(target)) {
        (Some(source), Some(target)) => CopyTool::for_pair(&source, &target),
        _ => CopyTool::S5cmd,
    }
}

/// Drawing a box: a drag on the map while "Draw a box" is on, or a shift-drag at any time
/// (which MapLibre would otherwise take for zooming to a box), by mouse or by touch.
pub(super) fn on_box_drag(map: &Map, signals: Signals) {
    let start = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        let original = js_sys::Reflect::get(&event, &"originalEvent".into()).unwrap_or(JsValue::NULL);
        let shift = js_sys::Reflect::get(&original, &"shiftKey".into()).is_ok_and(|k| k.is_truthy());
        let Some(corner) = lng_lat(&event) else { return };
        if signals.boxed.drawing.get_untracked() || shift {
            // Not a pan, a box zoom or a touch zoom: this drag is ours.
            maplibre::call0(&event, "preventDefault");
            MODEL.with(|m| m.borrow_mut().drag = Some((corner, corner)));
        }
    });
    let drag = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        let Some(corner) = lng_lat(&event) else { return };
        let dragged = MODEL.with(|m| {
            let mut model = m.borrow_mut();
            let drag = model.drag.as_mut()?;
            drag.1 = corner;
            Some(*drag)
        });
        if let Some(bbox) = dragged.and_then(|(a, b)| bbox::from_corners(a, b)) {
            show_box(&bbox);
        }
    });
    let end = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        let Some((first, last)) = MODEL.with(|m| m.borrow_mut().drag.take()) else { return };
        // A touch that ended has no position: the last move's stands.
        let last = lng_lat(&event).unwrap_or(last);
        signals.boxed.drawing.set(false);
        if let Some(bbox) = bbox::from_corners(first, last) {
            choose_box(signals, bbox);
        }
    });
    for (events, handler) in
        [(["mousedown", "touchstart"], start), (["mousemove", "touchmove"], drag), (["mouseup", "touchend"], end)]
    {
        for event in events {
            map.on(event, handler.as_ref().unchecked_ref());
        }
        handler.forget();
    }
}

/// Makes `bbox` the chosen box: its text in the field, its outline on the map; the year's
/// effect then counts it.
fn choose_box(signals: Signals, bbox: Bbox) {
    signals.boxed.error.set(None);
    signals.boxed.text.set(bbox.to_string());
    show_box(&bbox);
    signals.boxed.chosen.set(Some(bbox));
}

/// Outlines a box on the map.
fn show_box(bbox: &Bbox) {
    let ring: Vec<[f64; 2]> = bbox::ring(bbox).to_vec();
    let outline = serde_json::json!({"type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [ring]}});
    let layer = serde_json::json!({"id": "box", "type": "line", "source": "box",
        "paint": {"line-color": "#f5aa14", "line-width": 2, "line-dasharray": [2, 1]}});
    show_feature("box", outline, layer);
}

/// Counts the tiles in `bbox` for `year`: per store from the bitmaps (downloaded once, like
/// the map's), and the registry's as `/search` matches them.
pub(super) async fn count_box(signals: Signals, bbox: Bbox, year: u16) {
    let Ok(one_year) = YearRange::new(year, year) else { return };
    let Ok(ranges) = bbox.id_ranges(one_year, &[year]) else { return };
    let names: Vec<String> = signals.stores.get_untracked().into_iter().map(|store| store.name).collect();
    let urls: Vec<String> = names.iter().map(|name| format!("/coverage/{name}/{year}")).collect();
    let downloaded = match bitmaps(&urls).await {
        Ok(downloaded) => downloaded,
        Err(err) => return signals.message.set(Some(err)),
    };
    let mut stores = Vec::new();
    for ((name, url), bytes) in names.into_iter().zip(&urls).zip(downloaded) {
        match RoaringView::open(bytes.as_slice()) {
            Ok(view) => stores.push((name, kernels::and_ranges_count(&view, &ranges))),
            Err(err) => return signals.message.set(Some(format!("{url}: {err}"))),
        }
    }
    let search = format!("/search?collections=geotessera-{year}&bbox={bbox}&limit=1");
    let registry = fetch_json(&search).await.ok().and_then(|page| page["numberMatched"].as_u64());
    // Only the latest question is answered: a slow answer to an older one is dropped.
    if signals.boxed.chosen.get_untracked() == Some(bbox) && signals.year.get_untracked() == year {
        signals.boxed.counts.set(Some(BoxCounts { bbox, year, registry, stores }));
    }
}
