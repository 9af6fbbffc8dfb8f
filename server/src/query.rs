//! Query strings, decoded strictly: `application/x-www-form-urlencoded` pairs whose
//! percent-decoded bytes must be UTF-8. A lossy decoder turns `%ff` into U+FFFD, and a
//! malformed request (`/search?ids=%ff%fe`) would be answered as if it were a real one.

use std::borrow::Cow;

use percent_encoding::percent_decode;

use crate::error::{Error, Result};

/// The name-value pairs of `query`, in order (empty parts skipped), or a 400 naming the
/// parameter that does not decode to UTF-8. A part with nothing to decode is borrowed, not
/// copied (this runs for every search).
pub fn pairs(query: &str) -> Result<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|part| !part.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode(name).ok_or_else(|| Error::bad("a parameter name is not UTF-8 once percent-decoded"))?;
        let value = decode(value)
            .ok_or_else(|| Error::bad(format!("the value of parameter `{name}` is not UTF-8 once percent-decoded")))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Whether the query part `name=value` (or `name`) is parameter `wanted`, once decoded.
pub fn names(part: &str, wanted: &str) -> bool {
    let name = part.split_once('=').map_or(part, |(name, _)| name);
    decode(name).is_some_and(|name| name == wanted)
}

fn decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(Cow::Borrowed(text));
    }
    let spaced = text.replace('+', " ");
    percent_decode(spaced.as_bytes()).decode_utf8().ok().map(|text| Cow::Owned(text.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_strictly() {
        let decoded = pairs("ids=2024_grid_0.85_49.95%2C2024_grid_0.95_49.95&bbox=0,1,2,3&&flag&q=a+b%20c").unwrap();
        let expected =
            [("ids", "2024_grid_0.85_49.95,2024_grid_0.95_49.95"), ("bbox", "0,1,2,3"), ("flag", ""), ("q", "a b c")];
        assert_eq!(decoded, expected.map(|(n, v)| (Cow::Borrowed(n), Cow::Borrowed(v))));
        assert!(names("token=abc", "token") && names("%74oken=abc", "token") && names("token", "token"));
        assert!(!names("tokens=1", "token") && !names("limit=token", "token"));
        let refused = pairs("ids=%ff%fe").unwrap_err().to_string();
        assert!(refused.contains("parameter `ids`"), "{refused}");
        assert!(pairs("%c3=1").is_err());
    }
}
