//! Request routing: one function per endpoint, each returning a [`Reply`] or an [`Error`]
//! that becomes a JSON error body.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;
use tessera_engine::grid::Tile;

use crate::State;
use crate::catalog::Catalog;
use crate::collection::ItemCollection;
use crate::coverage;
use crate::error::{Error, Result};
use crate::search::{self, Endpoint, Page, Search};
use crate::snapshot::Snapshot;
use crate::static_files;
use tokio::sync::Semaphore;

/// The largest POST body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// POST bodies up to this size are parsed on the async worker (well under a millisecond).
const INLINE_BODY: usize = 16 * 1024;

const JSON: &str = "application/json";
const GEO_JSON: &str = "application/geo+json";
const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";

/// What a handler returns: a status, a body and its headers.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Bytes,
    /// A body rendered as it is read, instead of `body`.
    stream: Option<Streamed>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// A response body: bytes in hand, or one rendered a chunk at a time as the client takes it
/// (so its text is never held whole).
#[derive(Debug)]
pub enum ReplyBody {
    Full(Option<Bytes>),
    /// Rendered as read; each chunk's bytes counted in `counter`, when there is one.
    Streamed {
        body: Streamed,
        counter: Option<Counter>,
        yielded: bool,
    },
}

impl ReplyBody {
    fn streamed(body: Streamed) -> ReplyBody {
        ReplyBody::Streamed { body, counter: None, yielded: false }
    }

    /// Counts the bytes of a streamed body in `counter` as they are sent (a body in hand is
    /// counted whole when answered).
    pub fn count_in(&mut self, counter: Counter) {
        if let ReplyBody::Streamed { counter: slot, .. } = self {
            *slot = Some(counter);
        }
    }
}

/// The bodies rendered as they are read.
#[derive(Debug)]
pub enum Streamed {
    CopyList(Box<coverage::CopyList>),
    Items(Box<ItemCollection>),
}

impl Streamed {
    fn next_chunk(&mut self) -> Option<Bytes> {
        match self {
            Streamed::CopyList(list) => list.next_chunk(),
            Streamed::Items(items) => items.next_chunk(),
        }
    }
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    /// A streamed body yields to the scheduler before each chunk. hyper writes as long as the
    /// socket takes bytes (16 rounds a turn), and a client on a fast link always takes them: four
    /// such readers of copy lists kept every async worker busy for milliseconds a turn, and
    /// `/healthz` waited behind them (19 ms p99 for small searches under the hostile-load
    /// test; 9 ms with the yield).
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let chunk = match &mut *self {
            ReplyBody::Full(bytes) => bytes.take().filter(|bytes| !bytes.is_empty()),
            ReplyBody::Streamed { body, counter, yielded } => {
                if !std::mem::replace(yielded, true) {
                    context.waker().wake_by_ref();
                    return std::task::Poll::Pending;
                }
                *yielded = false;
                let chunk = body.next_chunk();
                if let (Some(chunk), Some(counter)) = (&chunk, counter) {
                    counter.inc_by(chunk.len() as u64);
                }
                chunk
            }
        };
        std::task::Poll::Ready(chunk.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ReplyBody::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ReplyBody::Full(bytes) => hyper::body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            ReplyBody::Streamed { .. } => hyper::body::SizeHint::default(),
        }
    }
}

impl Reply {
    fn new(body: impl Into<Bytes>, content_type: &'static str) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: body.into(),
            stream: None,
            headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        }
    }

    fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Reply {
        self.headers.push((name, value));
        self
    }

    pub fn status(mut self, status: StatusCode) -> Reply {
        self.status = status;
        self
    }

    /// An HTML page.
    pub fn new_html(page: String) -> Reply {
        Reply::new(page, "text/html; charset=utf-8")
    }

    /// A reply carrying a static file's bytes.
    pub fn file(body: Bytes, content_type: &'static str) -> Reply {
        Reply::new(body, content_type).header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
    }

    pub fn into_response(self, head_only: bool) -> Response<ReplyBody> {
        // A HEAD is sent no body, and hyper then sends no length: it is given as GET's, which
        // a body in hand knows (a streamed one is sent chunked, without a length, either way).
        let sends_body = self.status == StatusCode::OK && self.stream.is_none();
        let head_length = (head_only && sends_body).then(|| HeaderValue::from(self.body.len()));
        let body = match (head_only, self.stream) {
            (true, _) => ReplyBody::Full(Some(Bytes::new())),
            (false, Some(stream)) => ReplyBody::streamed(stream),
            (false, None) => ReplyBody::Full(Some(self.body)),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        if let Some(length) = head_length {
            headers.insert(header::CONTENT_LENGTH, length);
        }
        cors(headers);
        response
    }
}

/// Every response may be read by pages of any origin (STAC Browser, notebooks): the API is
/// public and read-only.
fn cors(headers: &mut hyper::HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("ETag"));
}

/// The JSON body of an error: `{"code", "description"}`.
pub fn error_reply(err: &Error) -> Reply {
    let body = serde_json::json!({"code": err.code(), "description": err.to_string()});
    let mut reply = Reply::new(serde_json::to_vec(&body).unwrap_or_default(), JSON).status(err.status());
    if let Error::MethodNotAllowed { allow, .. } = err {
        reply = reply.header(header::ALLOW, HeaderValue::from_static(allow));
    }
    reply
}

/// Answers one request.
pub async fn handle(state: Arc<State>, request: Request<Incoming>) -> Response<ReplyBody> {
    let head_only = request.method() == Method::HEAD;
    let reply = match route(&state, request).await {
        Ok(reply) => reply,
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!("{err}");
            }
            error_reply(&err)
        }
    };
    reply.into_response(head_only)
}

async fn route(state: &Arc<State>, request: Request<Incoming>) -> Result<Reply> {
    let snapshot = state.snapshot();
    let method = request.method().clone();
    let prefix = state.base_path.as_str();
    let Some(path) = below(prefix, request.uri().path()) else {
        return Err(Error::NotFound(format!("no such path: {} (this API is under {prefix}/)", request.uri().path())));
    };
    if path.is_empty() {
        return Ok(redirect(format!("{prefix}/"), StatusCode::MOVED_PERMANENTLY));
    }
    let path = path.to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let allow = |allow: &'static str| Error::MethodNotAllowed { method: method.to_string(), path: path.clone(), allow };
    if method == Method::OPTIONS {
        return Ok(preflight());
    }
    let get = method == Method::GET || method == Method::HEAD;
    match segments.as_slice() {
        // A person's browser asks for a page: the map is the page. Caches keep both answers.
        [""] if get && wants_html(request.headers()) => {
            Ok(redirect(format!("{prefix}/map/"), StatusCode::SEE_OTHER).header(header::VARY, ACCEPT))
        }
        [""] if get => Ok(Reply::new(snapshot.landing.clone(), JSON).header(header::VARY, ACCEPT)),
        ["conformance"] if get => Ok(Reply::new(snapshot.conformance.clone(), JSON)),
        ["api"] if get => Ok(Reply::new(openapi(&snapshot), OPENAPI)),
        ["api.html"] if get => Ok(Reply::new(api_html(&snapshot), "text/html; charset=utf-8")),
        ["healthz"] if get => Ok(Reply::new(&b"{\"status\":\"ok\"}"[..], JSON)),
        ["metrics"] if get => {
            Ok(Reply::new(state.metrics.render(snapshot.pages.weight()), crate::metrics::CONTENT_TYPE))
        }
        ["collections"] if get => Ok(Reply::new(snapshot.collections.clone(), JSON)),
        ["collections", id] if get => collection(&snapshot, id),
        ["collections", id, "items"] if get => {
            let id = (*id).to_owned();
            get_search(state, snapshot, path, query, |snapshot, query| items_search(snapshot, &id, query)).await
        }
        ["collections", id, "items", item_id] if get => item(&snapshot, id, item_id),
        ["search"] if get => {
            get_search(state, snapshot, path, query, |_, query| Search::from_query(query, Endpoint::Search)).await
        }
        ["search"] if method == Method::POST => search_post(state, snapshot.clone(), request).await,
        ["coverage"] if get => Ok(Reply::new(coverage::listing(&snapshot), JSON)),
        ["coverage", ..] if get && segments.len() <= 4 => {
            let (source, target, year) = match segments.as_slice() {
                [_, store, year] => ((*store).to_owned(), None, (*year).to_owned()),
                [_, source, target, year] => ((*source).to_owned(), Some((*target).to_owned()), (*year).to_owned()),
                _ => return Err(Error::NotFound(format!("no such path: {path}"))),
            };
            let headers = request.headers().clone();
            // Computed and compressed once per snapshot (a cache miss is the heavy part).
            heavy(state, move || coverage_reply(&snapshot, &source, target.as_deref(), &year, &headers)).await
        }
        ["copylist", source, target] if get => {
            let (source, target) = ((*source).to_owned(), (*target).to_owned());
            // The missing ranges are found on the pool; the lines are rendered as they are sent.
            let max_tiles = state.limits.copylist_tiles;
            let list =
                heavy(state, move || coverage::copylist(snapshot.catalog.clone(), &source, &target, &query, max_tiles))
                    .await?;
            let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", list.file))
                .map_err(|err| Error::bad(err.to_string()))?;
            let mut reply = Reply::new(Bytes::new(), "text/plain; charset=utf-8");
            reply.stream = Some(Streamed::CopyList(Box::new(list)));
            Ok(reply.header(header::CONTENT_DISPOSITION, disposition))
        }
        ["map"] if get => Ok(redirect(format!("{prefix}/map/"), StatusCode::MOVED_PERMANENTLY)),
        ["map", ..] if get => {
            let (state, rest) = (state.clone(), segments[1..].iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            heavy(&state.clone(), move || {
                let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
                static_files::serve(state.web_dir(), &rest)
            })
            .await
        }
        // Every path a GET can take is matched above: one that gets here does not exist.
        _ if get => Err(Error::NotFound(format!("no such path: {path}"))),
        ["search"] => Err(allow("GET, POST, OPTIONS")),
        [""]
        | ["conformance"]
        | ["api"]
        | ["api.html"]
        | ["healthz"]
        | ["metrics"]
        | ["collections", ..]
        | ["coverage", ..]
        | ["copylist", _, _]
        | ["map", ..] => Err(allow("GET, HEAD, OPTIONS")),
        _ => Err(Error::NotFound(format!("no such path: {path}"))),
    }
}

fn preflight() -> Reply {
    Reply::new(Bytes::new(), "text/plain")
        .status(StatusCode::NO_CONTENT)
        .header(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, OPTIONS"))
        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, If-None-Match"))
        .header(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"))
}

const ACCEPT: HeaderValue = HeaderValue::from_static("Accept");

fn redirect(to: String, status: StatusCode) -> Reply {
    let location = HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/"));
    Reply::new(Bytes::new(), "text/plain").status(status).header(header::LOCATION, location)
}

/// `path` with the API's `prefix` (`/geotessera`, or empty) taken off, or `None` when it is
/// not below it.
pub fn below<'p>(prefix: &str, path: &'p str) -> Option<&'p str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Whether the client prefers a page to JSON: a browser's `Accept` names `text/html` (and not
/// only through `*/*`).
fn wants_html(headers: &hyper::HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|accept| accept.contains("text/html"))
}

fn collection(catalog: &Catalog, id: &str) -> Result<Reply> {
    match catalog.collection(id) {
        Some(doc) => Ok(Reply::new(doc.clone(), JSON)),
        None => Err(Error::NotFound(format!("no collection `{id}`; collections are geotessera-YEAR"))),
    }
}

fn item(snapshot: &Snapshot, collection_id: &str, item_id: &str) -> Result<Reply> {
    let catalog = &snapshot.catalog;
    let year = catalog
        .collection_year(collection_id)
        .ok_or_else(|| Error::NotFound(format!("no collection `{collection_id}`")))?;
    let missing = || Error::NotFound(format!("no item `{item_id}` in collection `{collection_id}`"));
    let tile = Tile::parse_item_id(item_id).map_err(|_| missing())?;
    let id = catalog.years().id(tile).map_err(|_| missing())?;
    if tile.year != year || !catalog.registry().is_some_and(|registry| registry.contains(id.0)) {
        return Err(missing());
    }
    let mut out = String::with_capacity(2048);
    crate::render::item(&mut out, catalog, &snapshot.templates, id);
    Ok(Reply::new(out, GEO_JSON))
}

/// The search of `/collections/{id}/items?query`.
fn items_search(catalog: &Catalog, id: &str, query: &str) -> Result<Search> {
    if catalog.collection_year(id).is_none() {
        return Err(Error::NotFound(format!("no collection `{id}`; collections are geotessera-YEAR")));
    }
    let mut search = Search::from_query(query, Endpoint::Items)?;
    search.collections = Some(vec![id.to_owned()]);
    Ok(search)
}

/// A GET search (`/search`, `/collections/{id}/items`): the page kept for the same path and
/// query when there is one, or the search made by `parse` run, and its page kept when it was
/// answered whole.
async fn get_search(
    state: &Arc<State>,
    snapshot: Arc<Snapshot>,
    path: String,
    query: String,
    parse: impl FnOnce(&Snapshot, &str) -> Result<Search>,
) -> Result<Reply> {
    let key = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
    let kept = snapshot.pages.get(&key);
    state.metrics.page_lookup(kept.is_some());
    if let Some(page) = kept {
        return Ok(Reply::new(page, GEO_JSON));
    }
    let search = parse(&snapshot, &query)?;
    let reply = searched(state, snapshot.clone(), search, move |state, snapshot, search, page| {
        let links = get_links(&snapshot, state, search, &page, &path, &query);
        Ok(item_collection(snapshot, search, page, &links))
    })
    .await?;
    if reply.status == StatusCode::OK && reply.stream.is_none() {
        snapshot.pages.keep(&key, &reply.body);
    }
    Ok(reply)
}

/// Runs `search` and renders its page with `render`: inline when the work is small (a page of
/// up to a hundred items over a box), on the blocking pool otherwise (geometries, large
/// pages, many ids, chosen fields), so no request holds an async worker for long.
async fn searched(
    state: &Arc<State>,
    snapshot: Arc<Snapshot>,
    search: Search,
    render: impl FnOnce(&State, Arc<Snapshot>, &Search, Page) -> Result<Reply> + Send + 'static,
) -> Result<Reply> {
    if !search.is_heavy() {
        let page = run(state, &snapshot, &search)?;
        return render(state, snapshot, &search, page);
    }
    let state_for_work = state.clone();
    heavy(state, move || search_and_render(&state_for_work, snapshot, search, render)).await
}

/// A search made whole (its geometry rasterised), run, and its page rendered: work for the pool.
fn search_and_render(
    state: &State,
    snapshot: Arc<Snapshot>,
    mut search: Search,
    render: impl FnOnce(&State, Arc<Snapshot>, &Search, Page) -> Result<Reply>,
) -> Result<Reply> {
    search.rasterise()?;
    let page = run(state, &snapshot, &search)?;
    render(state, snapshot, &search, page)
}

/// Runs `work` on the blocking pool once one of the server's heavy-work permits is free (one a
/// core): geometries, searches over them, copy lists, coverage on a cache miss and file reads
/// never stall the async workers, so `/healthz` and small requests answer under any load.
async fn heavy<T: Send + 'static>(state: &Arc<State>, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    on_pool(&state.heavy, work).await
}

/// Runs `work` on the blocking pool under one of `permits`. The permit goes with the work, not
/// with the request: a client that hangs up drops the request, and the work runs on to its end,
/// so the permit must be held until then or the pool is no longer bounded.
async fn on_pool<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let permit = permits.clone().acquire_owned().await.map_err(|err| Error::Config(err.to_string()))?;
    let held = move || {
        let _permit = permit;
        yield_cpu_to_requests();
        work()
    };
    tokio::task::spawn_blocking(held).await.map_err(|err| Error::Config(format!("a handler panicked: {err}")))?
}

/// How far below the async workers heavy work runs, in nice steps: under contention for the
/// cores a thread 10 steps down gets about a tenth of the share of one at the workers' level,
/// so the workers that answer `/healthz` and small requests preempt geometries and large pages.
const HEAVY_WORK_NICENESS: i32 = 10;

/// The lowest priority Linux has (the highest nice value).
const LOWEST_PRIORITY: i32 = 19;

/// Lowers the calling thread of the blocking pool [`HEAVY_WORK_NICENESS`] steps, once: an
/// unprivileged thread cannot raise its priority again, and the pool's other work (reloads,
/// change checks) can wait for requests too.
fn yield_cpu_to_requests() {
    #[cfg(target_os = "linux")]
    {
        std::thread_local! {
            static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if LOWERED.replace(true) {
            return;
        }
        // On Linux, process 0 is the calling thread alone: the async workers keep their priority.
        let result = rustix::process::getpriority_process(None).and_then(|current| {
            rustix::process::setpriority_process(None, (current + HEAVY_WORK_NICENESS).min(LOWEST_PRIORITY))
        });
        if let Err(err) = result {
            tracing::debug!("lowering a pool thread's priority: {err}");
        }
    }
}

async fn search_post(state: &Arc<State>, snapshot: Arc<Snapshot>, request: Request<Incoming>) -> Result<Reply> {
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(Error::BodyTooLarge { limit: MAX_BODY });
    }
    let reading = Limited::new(request.into_body(), MAX_BODY).collect();
    let body = tokio::time::timeout(state.limits.body_read, reading)
        .await
        .map_err(|_| Error::Timeout { what: "reading the request body", limit: state.limits.body_read })?
        .map_err(|_| Error::BodyTooLarge { limit: MAX_BODY })?
        .to_bytes();
    let body_len = body.len();
    let parse = move || -> Result<(Value, Search)> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&body).map_err(|err| Error::bad(format!("the request body is not JSON: {err}")))?
        };
        let search = Search::from_body(&body)?;
        Ok((body, search))
    };
    if body_len <= INLINE_BODY {
        let (body, search) = parse()?;
        return searched(state, snapshot, search, move |state, snapshot, search, page| {
            post_page(state, snapshot, search, page, &body)
        })
        .await;
    }
    // A megabyte of JSON takes milliseconds to parse: not on an async worker. The search it
    // makes runs in the same visit to the pool, under the same permit.
    let state_for_work = state.clone();
    heavy(state, move || {
        let (body, search) = parse()?;
        search_and_render(&state_for_work, snapshot, search, |state, snapshot, search, page| {
            post_page(state, snapshot, search, page, &body)
        })
    })
    .await
}

/// The page of a POST search: its `next`/`prev` links carry the request's body back with the
/// token replaced.
fn post_page(state: &State, snapshot: Arc<Snapshot>, search: &Search, page: Page, body: &Value) -> Result<Reply> {
    let base = snapshot.base();
    let mut links = vec![root_link(&snapshot)];
    for (rel, token) in [("next", page.next), ("prev", page.prev)] {
        if let Some(token) = token {
            let mut next_body = body.as_object().cloned().unwrap_or_default();
            next_body.insert("token".into(), Value::String(state.signer.sign(token, search.fingerprint())));
            links.push(serde_json::json!({"rel": rel, "href": format!("{base}/search"), "type": GEO_JSON, "method": "POST", "body": next_body}).to_string());
        }
    }
    Ok(item_collection(snapshot, search, page, &links))
}

fn run(state: &State, catalog: &Catalog, search: &Search) -> Result<Page> {
    let token = match &search.token {
        Some(text) => Some(state.signer.verify(text, search.fingerprint())?),
        None => None,
    };
    search::run(catalog, search, token)
}

fn root_link(catalog: &Catalog) -> String {
    format!("{{\"rel\":\"root\",\"href\":\"{}/\",\"type\":\"application/json\"}}", catalog.base())
}

/// `root`, `self`, and `next`/`prev` links that carry every parameter of the request back
/// intact, with the token replaced.
fn get_links(catalog: &Catalog, state: &State, search: &Search, page: &Page, path: &str, query: &str) -> Vec<String> {
    let base = catalog.base();
    let self_href = if query.is_empty() { format!("{base}{path}") } else { format!("{base}{path}?{query}") };
    let mut links = vec![root_link(catalog), link_json("self", &self_href, None)];
    for (rel, token) in [("next", page.next), ("prev", page.prev)] {
        let Some(token) = token else { continue };
        let mut serializer = form_urlencoded::Serializer::new(String::with_capacity(query.len() + 64));
        for (name, value) in form_urlencoded::parse(query.as_bytes()).filter(|(name, _)| name != "token") {
            serializer.append_pair(&name, &value);
        }
        serializer.append_pair("token", &state.signer.sign(token, search.fingerprint()));
        links.push(link_json(rel, &format!("{base}{path}?{}", serializer.finish()), Some("GET")));
    }
    links
}

/// A link object, written directly: this runs for every page.
fn link_json(rel: &str, href: &str, method: Option<&str>) -> String {
    let href = serde_json::to_string(href).unwrap_or_default();
    let mut link = String::with_capacity(href.len() + 80);
    link.push_str("{\"rel\":\"");
    link.push_str(rel);
    link.push_str("\",\"href\":");
    link.push_str(&href);
    link.push_str(",\"type\":\"application/geo+json\"");
    if let Some(method) = method {
        link.push_str(",\"method\":\"");
        link.push_str(method);
        link.push('"');
    }
    link.push('}');
    link
}

/// The ItemCollection of one page: sent whole when small, streamed when large.
fn item_collection(snapshot: Arc<Snapshot>, search: &Search, page: Page, links: &[String]) -> Reply {
    let collection = ItemCollection::new(snapshot, search, page, links);
    if !collection.is_large() {
        return Reply::new(collection.into_string(), GEO_JSON);
    }
    let mut reply = Reply::new(Bytes::new(), GEO_JSON);
    reply.stream = Some(Streamed::Items(Box::new(collection)));
    reply
}

fn coverage_reply(
    snapshot: &Snapshot,
    source: &str,
    target: Option<&str>,
    year: &str,
    headers: &hyper::HeaderMap,
) -> Result<Reply> {
    let encoded = coverage::bitmap(snapshot, &snapshot.coverage, source, target, year)?;
    let etag = HeaderValue::from_str(&encoded.etag).map_err(|err| Error::Config(err.to_string()))?;
    let cells = HeaderValue::from(encoded.cells);
    let cache = HeaderValue::from_static("public, max-age=60, must-revalidate");
    let vary = HeaderValue::from_static("Accept-Encoding");
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == encoded.etag || tag.trim() == "*");
    let common = |reply: Reply| {
        reply
            .header(header::ETAG, etag.clone())
            .header(header::CACHE_CONTROL, cache.clone())
            .header(header::VARY, vary.clone())
            .header(header::HeaderName::from_static("x-tessera-cells"), cells.clone())
    };
    if matches {
        return Ok(common(Reply::new(Bytes::new(), "application/octet-stream").status(StatusCode::NOT_MODIFIED)));
    }
    let accepts = |coding: &str| {
        headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
            |offer| {
                let mut parts = offer.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case(coding) && !refused
            },
        )
    };
    let reply = if accepts("br") {
        Reply::new(encoded.brotli.clone(), "application/octet-stream")
            .header(header::CONTENT_ENCODING, HeaderValue::from_static("br"))
    } else if accepts("gzip") {
        Reply::new(encoded.gzip.clone(), "application/octet-stream")
            .header(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))
    } else {
        Reply::new(encoded.identity.clone(), "application/octet-stream")
    };
    Ok(common(reply))
}

fn openapi(catalog: &Catalog) -> Bytes {
    Bytes::from(include_str!("openapi.json").replace("{{BASE}}", catalog.base()))
}

fn api_html(catalog: &Catalog) -> Bytes {
    Bytes::from(include_str!("api.html").replace("{{BASE}}", catalog.base()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A request dropped while its work runs on the pool (the client hung up) keeps its permit
    /// until the work ends: otherwise clients that ask and hang up at once would start work
    /// without bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_mid_work_holds_its_permit_until_the_work_ends() {
        let permits = Arc::new(Semaphore::new(1));
        let (started, has_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let request = tokio::spawn({
            let permits = permits.clone();
            async move {
                on_pool(&permits, move || {
                    started.send(()).expect("the test waits");
                    released.recv_timeout(Duration::from_secs(10)).expect("released");
                    Ok(())
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || has_started.recv_timeout(Duration::from_secs(10)))
            .await
            .expect("joined")
            .expect("the work started");
        request.abort();
        assert!(request.await.expect_err("aborted").is_cancelled());
        assert_eq!(permits.available_permits(), 0, "the work still runs, and holds the permit");

        release.send(()).expect("the work waits");
        let freed = tokio::time::timeout(Duration::from_secs(10), permits.acquire()).await;
        assert!(freed.is_ok(), "the permit comes back when the work ends");
    }

    /// Heavy work yields the cores to the async workers: on Linux it runs at a lower priority,
    /// and the workers (the caller here) keep theirs.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heavy_work_runs_below_the_workers_priority() {
        let niceness = || rustix::process::getpriority_process(None).expect("getpriority");
        let worker = niceness();
        let permits = Arc::new(Semaphore::new(1));
        let on_the_pool = on_pool(&permits, move || Ok(niceness())).await.expect("the work ran");
        assert_eq!(on_the_pool, (worker + HEAVY_WORK_NICENESS).min(LOWEST_PRIORITY));
        assert_eq!(niceness(), worker, "the worker keeps its priority");
    }
}
