//! The ItemCollection of a search page, written whole for a small page and a chunk of items at
//! a time for a large one, so that a client that reads a 10,000-item page slowly (36 MB of
//! JSON on the full inventory) holds one chunk of the server's memory, not the page.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tessera_engine::grid::TileId;

use crate::render::Items;
use crate::search::{self, Fields, Page, Search};
use crate::snapshot::Snapshot;

/// Pages of more items than this are streamed; smaller ones are sent whole, with a length.
pub const STREAM_ABOVE: usize = 100;

/// A chunk is cut once it holds this many bytes (about 4 items without `fields`): with the
/// connection's buffer, what a client that stops reading holds (~50 KB).
const CHUNK_BYTES: usize = 16 * 1024;

/// One page's ItemCollection, rendered as it is read.
#[derive(Debug)]
pub struct ItemCollection {
    snapshot: Arc<Snapshot>,
    fields: Option<Fields>,
    tiles: Vec<TileId>,
    /// The next item to render; `None` before the head is written.
    next: Option<usize>,
    /// The links and counts that close the collection; taken when written.
    tail: Option<String>,
}

impl ItemCollection {
    /// The collection of `page` of `search`, closed by `links` (each a JSON object).
    pub fn new(snapshot: Arc<Snapshot>, search: &Search, page: Page, links: &[String]) -> ItemCollection {
        let mut tail = String::with_capacity(128 + links.iter().map(String::len).sum::<usize>());
        tail.push_str("],\"links\":[");
        tail.push_str(&links.join(","));
        tail.push_str("],\"numberMatched\":");
        tail.push_str(itoa::Buffer::new().format(page.matched));
        tail.push_str(",\"numberReturned\":");
        tail.push_str(itoa::Buffer::new().format(page.tiles.len()));
        tail.push('}');
        ItemCollection { snapshot, fields: search.fields.clone(), tiles: page.tiles, next: None, tail: Some(tail) }
    }

    /// Whether the page is large enough to be streamed.
    pub fn is_large(&self) -> bool {
        self.tiles.len() > STREAM_ABOVE
    }

    /// The whole collection.
    pub fn into_string(mut self) -> String {
        let mut out = String::with_capacity(256 + self.tiles.len() * 4096);
        self.render(&mut out, usize::MAX);
        out
    }

    /// The next chunk of the collection, or `None` once it is all written.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        let mut out = String::with_capacity(CHUNK_BYTES + 4096);
        self.render(&mut out, CHUNK_BYTES);
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    /// Appends to `out` until it holds `budget` bytes or the collection ends.
    fn render(&mut self, out: &mut String, budget: usize) {
        let mut at = self.next.unwrap_or_else(|| {
            out.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
            0
        });
        let mut items = Items::new(&self.snapshot.catalog, &self.snapshot.templates);
        while at < self.tiles.len() && out.len() < budget {
            if at > 0 {
                out.push(',');
            }
            push_item(out, &mut items, self.tiles[at], self.fields.as_ref());
            at += 1;
        }
        self.next = Some(at);
        if at == self.tiles.len()
            && let Some(tail) = self.tail.take()
        {
            out.push_str(&tail);
        }
    }
}

fn push_item(out: &mut String, items: &mut Items, id: TileId, fields: Option<&Fields>) {
    let Some(fields) = fields else {
        items.push(out, id);
        return;
    };
    // The slow path, only when fields are chosen: render, parse, filter, write.
    let mut full = String::with_capacity(4096);
    items.push(&mut full, id);
    let value: Value = serde_json::from_str(&full).unwrap_or(Value::Null);
    out.push_str(&search::apply_fields(value, fields).to_string());
}
