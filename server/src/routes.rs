//! Request routing: one function per endpoint, each returning a [`Reply`] or an [`Error`]
//! that becomes a JSON error body.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;
use tessera_engine::grid::Tile;

use crate::body::{ReplyBody, Streamed};
use crate::budget::Visit;
use crate::catalog::Catalog;
use crate::collection::ItemCollection;
use crate::coverage;
use crate::error::{Error, Result};
use crate::search::{self, Body, Endpoint, Page, Search};
use crate::snapshot::Snapshot;
use crate::static_files;
use crate::{Listener, State};

/// The largest POST body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// POST bodies up to this size are parsed on the async worker (well under a millisecond).
const INLINE_BODY: usize = 16 * 1024;

const JSON: &str = "application/json";
const GEO_JSON: &str = "application/geo+json";
const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";
const SCHEMA_JSON: &str = "application/schema+json";

/// What a handler returns: a status, a body and its headers.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    body: Bytes,
    /// A body rendered as it is read, instead of `body`.
    pub stream: Option<Streamed>,
    headers: Vec<(header::HeaderName, HeaderValue)>,
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
            (true, _) => ReplyBody::full(Bytes::new()),
            (false, Some(stream)) => ReplyBody::streamed(stream),
            (false, None) => ReplyBody::full(self.body),
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
    match err {
        Error::MethodNotAllowed { allow, .. } => reply = reply.header(header::ALLOW, HeaderValue::from_static(allow)),
        // A busy server is worth asking again shortly; any moment is as good as the next.
        Error::Busy { .. } | Error::ClientCap { .. } => {
            reply = reply.header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        }
        _ => {}
    }
    reply
}

/// Answers one request.
pub async fn handle(state: Arc<State>, request: Request<Incoming>, listener: Listener) -> Response<ReplyBody> {
    let head_only = request.method() == Method::HEAD;
    // The operator's data (metrics, copy lists, where the stores are) stays on the admin
    // listener when there is one.
    let audience = if listener == Listener::Admin || !state.has_admin { Audience::Operator } else { Audience::Public };
    let reply = match route(&state, request, audience).await {
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

/// Who a listener answers: everybody, or the operator too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A visitor: no metrics, no copy lists, no storage paths.
    Public,
    /// The operator: everything.
    Operator,
}

async fn route(state: &Arc<State>, request: Request<Incoming>, audience: Audience) -> Result<Reply> {
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
        ["queryables"] if get => Ok(Reply::new(snapshot.queryables.clone(), SCHEMA_JSON)),
        ["collections", id, "queryables"] if get => match snapshot.collection_queryables(id) {
            Some(doc) => Ok(Reply::new(doc.clone(), SCHEMA_JSON)),
            None => Err(Error::NotFound(format!("no collection `{id}`; collections are geotessera-YEAR"))),
        },
        ["api"] if get => Ok(Reply::new(openapi(&snapshot), OPENAPI)),
        ["api.html"] if get => Ok(Reply::new(api_html(&snapshot), "text/html; charset=utf-8")),
        ["healthz"] if get => Ok(Reply::new(&b"{\"status\":\"ok\"}"[..], JSON)),
        ["metrics"] if get && audience == Audience::Operator => {
            let text = state.metrics.render(snapshot.pages.weight(), state.clients.clients());
            Ok(Reply::new(text, crate::metrics::CONTENT_TYPE))
        }
        ["collections"] if get && query.is_empty() => Ok(Reply::new(snapshot.collections.clone(), JSON)),
        ["collections"] if get => {
            let search = crate::collection_search::CollectionSearch::from_query(&query)?;
            Ok(Reply::new(search.answer(&snapshot, &query)?, JSON))
        }
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
        ["aggregations"] if get => Ok(Reply::new(crate::aggregate::offered(snapshot.base()).to_string(), JSON)),
        ["aggregate"] if get => {
            let search = Search::from_query(&query, Endpoint::Aggregate)?;
            aggregated(state, snapshot, search).await
        }
        ["aggregate"] if method == Method::POST => {
            let body = read_body(state, request).await?;
            let search = heavy(state, move |_| Search::from_body(&json_body(&body)?, Endpoint::Aggregate)).await?;
            aggregated(state, snapshot, search).await
        }
        ["collections", id, "aggregate"] if get => {
            if snapshot.collection_year(id).is_none() {
                return Err(Error::NotFound(format!("no collection `{id}`; collections are geotessera-YEAR")));
            }
            let mut search = Search::from_query(&query, Endpoint::Aggregate)?;
            search.collections = Some(vec![(*id).to_owned()]);
            aggregated(state, snapshot, search).await
        }
        ["coverage"] if get => Ok(Reply::new(coverage::listing(&snapshot, audience), JSON)),
        ["coverage", ..] if get && segments.len() <= 4 => {
            let (source, target, year) = match segments.as_slice() {
                [_, store, year] => ((*store).to_owned(), None, (*year).to_owned()),
                [_, source, target, year] => ((*source).to_owned(), Some((*target).to_owned()), (*year).to_owned()),
                _ => return Err(Error::NotFound(format!("no such path: {path}"))),
            };
            let headers = request.headers().clone();
            // Computed and compressed once per snapshot (a cache miss is the heavy part).
            heavy(state, move |_| coverage_reply(&snapshot, &source, target.as_deref(), &year, &headers)).await
        }
        ["copylist", source, target] if get && audience == Audience::Operator => {
            let (source, target) = ((*source).to_owned(), (*target).to_owned());
            // The missing ranges are found on the pool; the lines are rendered as they are sent.
            let max_tiles = state.limits.copylist_tiles;
            let list = heavy(state, move |_| {
                coverage::copylist(snapshot.catalog.clone(), &source, &target, &query, max_tiles)
            })
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
            heavy(&state.clone(), move |_| {
                let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
                static_files::serve(state.web_dir(), &rest)
            })
            .await
        }
        // Every path a GET can take is matched above: one that gets here does not exist.
        _ if get => Err(Error::NotFound(format!("no such path: {path}"))),
        ["search"] | ["aggregate"] => Err(allow("GET, POST, OPTIONS")),
        [""]
        | ["conformance"]
        | ["queryables"]
        | ["aggregations"]
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
    let reply = searched(state, snapshot.clone(), search, move |state, catalog, search, page, out| {
        get_links(catalog, state, search, page, &path, &query, out)
    })
    .await?;
    if reply.status == StatusCode::OK && reply.stream.is_none() {
        snapshot.pages.keep(&key, &reply.body);
    }
    Ok(reply)
}

/// Writes the links that close a page, for the search and page found: the members of a JSON
/// array, comma-separated.
trait Links: FnOnce(&State, &Catalog, &Search, &Page, &mut String) + Send + 'static {}
impl<F: FnOnce(&State, &Catalog, &Search, &Page, &mut String) + Send + 'static> Links for F {}

/// Runs `search` and renders its page, closed by `links`: inline when the work is small (a page
/// of up to a hundred items over a box: well under a millisecond), on the heavy-work pool
/// otherwise (geometries, large pages, many ids, chosen fields), so no request holds an async
/// worker for long.
async fn searched(state: &Arc<State>, snapshot: Arc<Snapshot>, search: Search, links: impl Links) -> Result<Reply> {
    if !search.is_heavy() {
        return search_and_render(state, snapshot, search, links, &Visit::inline());
    }
    let (state_for_work, budget) = (state.clone(), state.budget());
    let _waiter = budget.waiter();
    state.pool.run(&budget, move |visit| search_and_render(&state_for_work, snapshot, search, links, visit)).await
}

/// A search made whole (its geometry rasterised), run, and its page rendered; a large page is
/// streamed, a chunk at a time, under the visit's budget.
fn search_and_render(
    state: &State,
    snapshot: Arc<Snapshot>,
    mut search: Search,
    links: impl Links,
    visit: &Visit,
) -> Result<Reply> {
    search.rasterise()?;
    visit.check()?;
    let page = run(state, &snapshot, &search, visit)?;
    let mut written = String::with_capacity(1024);
    links(state, &snapshot, &search, &page, &mut written);
    let collection = ItemCollection::new(snapshot, &search, page, &written);
    if !collection.is_large() {
        return Ok(Reply::new(collection.into_string(visit)?, GEO_JSON));
    }
    // Only heavy searches make large pages, and those run metered on the pool.
    let budget = visit.budget().cloned().unwrap_or_else(|| state.budget());
    let mut reply = Reply::new(Bytes::new(), GEO_JSON);
    let (pool, waiter) = (state.pool.clone(), budget.waiter());
    reply.stream = Some(Streamed::Items { collection: Box::new(collection), pool, budget, waiter });
    Ok(reply)
}

/// Runs `work` on the heavy-work pool under a budget of its own: a request that is not a
/// search (coverage on a cache miss, a copy list's ranges, a file).
async fn heavy<T: Send + 'static>(
    state: &Arc<State>,
    work: impl FnOnce(&Visit) -> Result<T> + Send + 'static,
) -> Result<T> {
    let budget = state.budget();
    let _waiter = budget.waiter();
    state.pool.run(&budget, work).await
}

/// Counts a search's matches as `/aggregate` asks, on the pool.
async fn aggregated(state: &Arc<State>, snapshot: Arc<Snapshot>, mut search: Search) -> Result<Reply> {
    heavy(state, move |visit| {
        search.rasterise()?;
        Ok(Reply::new(crate::aggregate::answer(&snapshot, &search, visit)?, JSON))
    })
    .await
}

/// A POST body, read within the body limits (size and time).
async fn read_body(state: &Arc<State>, request: Request<Incoming>) -> Result<Bytes> {
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_BODY as u64) {
        return Err(Error::BodyTooLarge { limit: MAX_BODY });
    }
    let reading = Limited::new(request.into_body(), MAX_BODY).collect();
    Ok(tokio::time::timeout(state.limits.body_read, reading)
        .await
        .map_err(|_| Error::Timeout { what: "reading the request body", limit: state.limits.body_read })?
        .map_err(|_| Error::BodyTooLarge { limit: MAX_BODY })?
        .to_bytes())
}

/// A POST body's members; an empty body has none.
fn json_body(body: &[u8]) -> Result<Body> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::default());
    }
    serde_json::from_slice(body).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => Error::bad("the search body must be a JSON object"),
        _ => Error::bad(format!("the request body is not JSON: {err}")),
    })
}

async fn search_post(state: &Arc<State>, snapshot: Arc<Snapshot>, request: Request<Incoming>) -> Result<Reply> {
    let body = read_body(state, request).await?;
    let body_len = body.len();
    let parse = move || -> Result<(Body, Search)> {
        let body = json_body(&body)?;
        let search = Search::from_body(&body, Endpoint::Search)?;
        Ok((body, search))
    };
    if body_len <= INLINE_BODY {
        let (body, search) = parse()?;
        return searched(state, snapshot, search, move |state, catalog, search, page, out| {
            post_links(state, catalog, search, page, &body, out)
        })
        .await;
    }
    // A megabyte of JSON takes milliseconds to parse: not on an async worker. The search it
    // makes runs in the same visit to the pool, under the same permit and budget.
    let (state_for_work, budget) = (state.clone(), state.budget());
    let _waiter = budget.waiter();
    state
        .pool
        .run(&budget, move |visit| {
            let (body, search) = parse()?;
            let links = move |state: &State, catalog: &Catalog, search: &Search, page: &Page, out: &mut String| {
                post_links(state, catalog, search, page, &body, out)
            };
            search_and_render(&state_for_work, snapshot, search, links, visit)
        })
        .await
}

/// The links of a POST search's page: its `next`/`prev` links carry the request's body back
/// with the token replaced.
fn post_links(state: &State, catalog: &Catalog, search: &Search, page: &Page, body: &Body, out: &mut String) {
    let base = catalog.base();
    push_root_link(out, base);
    for (rel, token) in [("next", page.next), ("prev", page.prev)] {
        if let Some(token) = token {
            // The body's members are copied back as the client wrote them, the token replaced.
            let token = Value::String(state.signer.sign(token, search.fingerprint())).to_string();
            let mut next_body = body.clone();
            next_body.insert("token".into(), RawValue::from_string(token).expect("a JSON string is JSON"));
            let head =
                serde_json::json!({"rel": rel, "href": format!("{base}/search"), "type": GEO_JSON, "method": "POST"});
            let head = head.to_string();
            out.push(',');
            out.push_str(&head[..head.len() - 1]);
            out.push_str(",\"body\":");
            out.push_str(&serde_json::to_string(&next_body).expect("raw JSON members serialise"));
            out.push('}');
        }
    }
}

fn run(state: &State, catalog: &Catalog, search: &Search, visit: &Visit) -> Result<Page> {
    let token = match &search.token {
        Some(text) => Some(state.signer.verify(text, search.fingerprint())?),
        None => None,
    };
    search::run(catalog, search, token, visit)
}

fn push_root_link(out: &mut String, base: &str) {
    out.push_str("{\"rel\":\"root\",\"href\":\"");
    push_escaped(out, base);
    out.push_str("/\",\"type\":\"application/json\"}");
}

/// Writes `root`, `self`, and `next`/`prev` links that carry every parameter of the request
/// back as the client wrote it, with the token replaced. Written straight into `out`, escaped
/// as they go: this runs for every page.
fn get_links(
    catalog: &Catalog,
    state: &State,
    search: &Search,
    page: &Page,
    path: &str,
    query: &str,
    out: &mut String,
) {
    let base = catalog.base();
    push_root_link(out, base);
    out.push_str(",{\"rel\":\"self\",\"href\":\"");
    push_escaped(out, base);
    push_escaped(out, path);
    if !query.is_empty() {
        out.push('?');
        push_escaped(out, query);
    }
    out.push_str("\",\"type\":\"application/geo+json\"}");
    if page.next.is_none() && page.prev.is_none() {
        return;
    }
    let fingerprint = search.fingerprint();
    for (rel, token) in [("next", page.next), ("prev", page.prev)] {
        let Some(token) = token else { continue };
        out.push_str(",{\"rel\":\"");
        out.push_str(rel);
        out.push_str("\",\"href\":\"");
        push_escaped(out, base);
        push_escaped(out, path);
        out.push('?');
        for part in query.split('&').filter(|part| !part.is_empty() && !crate::query::names(part, "token")) {
            push_escaped(out, part);
            out.push('&');
        }
        out.push_str("token=");
        state.signer.sign_into(out, token, fingerprint);
        out.push_str("\",\"type\":\"application/geo+json\",\"method\":\"GET\"}");
    }
}

/// Appends `text` as the inside of a JSON string: quotes, backslashes and control characters
/// escaped, the rest as it is.
fn push_escaped(out: &mut String, text: &str) {
    // What needs escaping is ASCII: bytes are checked, not characters.
    let plain = |b: u8| b != b'"' && b != b'\\' && b >= b' ';
    if text.bytes().all(plain) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
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

    #[test]
    fn text_is_escaped_as_json_wants_and_only_then() {
        let mut out = String::new();
        push_escaped(&mut out, "a=1&b=é");
        push_escaped(&mut out, "\"q\\\u{1}");
        assert_eq!(out, "a=1&b=é\\\"q\\\\\\u0001");
        let parsed: String = serde_json::from_str(&format!("\"{out}\"")).expect("valid JSON");
        assert_eq!(parsed, "a=1&b=é\"q\\\u{1}");
    }
}
