//! The web app's files, served from a directory under `/map/`.
//!
//! Paths are decoded one segment at a time and every segment must be a plain name (no `..`,
//! no `.` prefix, no separators or NULs once decoded), so a request can never leave the
//! directory. When the app has not been built, `/map/` says how to build it.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::routes::Reply;

/// Serves `segments` (the path after `/map/`) from `root`; an empty path is `index.html`.
pub fn serve(root: Option<&Path>, segments: &[&str]) -> Result<Reply> {
    let Some(root) = root.filter(|root| root.join("index.html").is_file()) else {
        return Ok(not_built(root));
    };
    let mut path = root.to_path_buf();
    for segment in segments.iter().filter(|s| !s.is_empty()) {
        path.push(safe_segment(segment)?);
    }
    if path.is_dir() {
        path.push("index.html");
    }
    let bytes = std::fs::read(&path).map_err(|_| Error::NotFound(format!("no file /map/{}", segments.join("/"))))?;
    Ok(Reply::file(Bytes::from(bytes), content_type(&path)))
}

fn safe_segment(segment: &str) -> Result<PathBuf> {
    // Percent-decoded as a path segment: a `+` stays a plus.
    let text =
        percent_encoding::percent_decode_str(segment).decode_utf8().map_err(|_| Error::bad("the path is not UTF-8"))?;
    let bad = text.is_empty() || text.starts_with('.') || text.contains(['/', '\\', '\0']);
    if bad {
        return Err(Error::NotFound(format!("no file named `{text}`")));
    }
    Ok(PathBuf::from(text.into_owned()))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript",
        "wasm" => "application/wasm",
        "css" => "text/css",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "pbf" => "application/x-protobuf",
        _ => "application/octet-stream",
    }
}

fn not_built(root: Option<&Path>) -> Reply {
    let wanted = root.map_or("(no --web directory given)".to_owned(), |r| r.display().to_string());
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>tessera map</title>\
         <h1>The coverage map is not built</h1>\
         <p>Build it with <code>scripts/build-web.sh</code>, then start <code>tessera serve --web DIR</code> \
         with the directory it writes. Looked in: <code>{}</code>.</p><p>The STAC API is at <a href=\"/\">/</a>.</p>",
        wanted.replace('&', "&amp;").replace('<', "&lt;")
    );
    Reply::new_html(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_segment_can_climb_out() {
        for bad in ["..", "%2e%2e", ".hidden", "a%2fb", "a%5cb", "%00", ""] {
            assert!(safe_segment(bad).is_err(), "{bad}");
        }
        assert_eq!(safe_segment("app%20x.js").unwrap(), PathBuf::from("app x.js"));
    }
}
