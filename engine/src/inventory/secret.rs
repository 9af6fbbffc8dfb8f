//! The inventory's secret: the key its readers sign with.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// The file of the inventory's secret: 32 random bytes, hex, that keys what its readers sign
/// (the STAC API's paging tokens), so that every replica of one inventory signs alike and a
/// signature outlives a restart. Written once by `init` or the first writer (mode 0640: its
/// owner and group, the servers' group); never by a reader.
pub const SECRET_FILE: &str = "secret.key";

/// The inventory's secret, if it has one.
pub fn read_secret(dir: &Path) -> Result<Option<[u8; 32]>> {
    let path = dir.join(SECRET_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io("reading", &path)(err)),
    };
    parse_secret(text.trim()).map(Some).ok_or_else(|| Error::Config {
        path,
        message: "expected 64 hexadecimal digits (32 bytes); remove the file and the next writer makes a new one"
            .into(),
    })
}

/// `64 hex digits` as 32 bytes.
pub fn parse_secret(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(key)
}

/// Writes the inventory's secret if it has none (atomically; readable by its owner and group).
pub fn ensure_secret(dir: &Path) -> Result<()> {
    let path = dir.join(SECRET_FILE);
    if path.exists() {
        return Ok(());
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|err| Error::Config { path: path.clone(), message: format!("no random numbers: {err}") })?;
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n";
    // Written whole beside it, then linked in: of two first writers racing, one key wins and
    // neither replaces the other's.
    let whole = dir.join(format!(".{SECRET_FILE}.new-{}", std::process::id()));
    crate::fsutil::write_atomically(&whole, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&whole, fs::Permissions::from_mode(0o640));
    }
    let linked = fs::hard_link(&whole, &path);
    let _ = fs::remove_file(&whole);
    match linked {
        Ok(()) => crate::fsutil::sync_parent(&path),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(Error::io("writing", &path)(err)),
    }
}
