//! Paging tokens: "resume after (or before) tile id X of search S", signed so a client can
//! neither forge a position nor carry a token over to another search.
//!
//! A token is 57 characters: a direction letter (`n` next, `p` previous), the tile id (8), the
//! search's fingerprint (16) and the first 16 bytes of an HMAC-SHA256 over those (32). The key
//! is the inventory's secret (or one given), so every replica of an inventory accepts the
//! tokens of every other, and tokens outlive a restart.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

use crate::hex;

/// Which way a page goes from its token's tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The items after the tile.
    Next,
    /// The items before the tile.
    Prev,
}

/// A decoded, verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub direction: Direction,
    pub tile: u32,
}

/// Signs and checks tokens with one secret key.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    /// A signer with `key`.
    pub fn new(key: [u8; 32]) -> Signer {
        Signer { key }
    }

    /// A signer with a fresh random key.
    pub fn random() -> Result<Signer> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|err| Error::Config(format!("no random numbers for the token key: {err}")))?;
        Ok(Signer { key })
    }

    /// The token for `token` in the search with `fingerprint`.
    pub fn sign(&self, token: Token, fingerprint: u64) -> String {
        let mut text = String::with_capacity(57);
        self.sign_into(&mut text, token, fingerprint);
        text
    }

    /// Appends the signed `token` to `out` (written directly: this runs for every page).
    pub fn sign_into(&self, out: &mut String, token: Token, fingerprint: u64) {
        let mut body = [0u8; 25];
        body[0] = match token.direction {
            Direction::Next => b'n',
            Direction::Prev => b'p',
        };
        hex::write(&mut body[1..9], &token.tile.to_be_bytes());
        hex::write(&mut body[9..25], &fingerprint.to_be_bytes());
        let mac = self.mac(&body).finalize().into_bytes();
        let mut text = [0u8; 57];
        text[..25].copy_from_slice(&body);
        hex::write(&mut text[25..], &mac[..16]);
        out.push_str(std::str::from_utf8(&text).expect("hex digits and a letter are ASCII"));
    }

    /// Checks `text` against the search with `fingerprint`.
    pub fn verify(&self, text: &str, fingerprint: u64) -> Result<Token> {
        let tampered = || {
            Error::bad(format!(
                "token `{text}` is not valid: it was altered or comes from another server run; start the search again"
            ))
        };
        if text.len() != 57 || !text.is_ascii() {
            return Err(tampered());
        }
        let (body, mac_hex) = text.split_at(25);
        let mac: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&mac_hex[2 * i..2 * i + 2], 16))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| tampered())?;
        self.mac(body.as_bytes()).verify_truncated_left(&mac).map_err(|_| tampered())?;
        let direction = match &body[..1] {
            "n" => Direction::Next,
            "p" => Direction::Prev,
            _ => return Err(tampered()),
        };
        let tile = u32::from_str_radix(&body[1..9], 16).map_err(|_| tampered())?;
        let signed_for = u64::from_str_radix(&body[9..25], 16).map_err(|_| tampered())?;
        if signed_for != fingerprint {
            return Err(Error::bad(format!(
                "token `{text}` belongs to another search: page with the parameters it was issued for"
            )));
        }
        Ok(Token { direction, tile })
    }

    fn mac(&self, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(body);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_unaltered_and_for_its_search() {
        let signer = Signer::random().unwrap();
        let token = Token { direction: Direction::Next, tile: 123_456 };
        let text = signer.sign(token, 42);
        assert_eq!(text.len(), 57);
        assert_eq!(signer.verify(&text, 42).unwrap(), token);
        assert!(signer.verify(&text, 43).unwrap_err().to_string().contains("another search"));
        for at in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(bytes).unwrap();
            assert!(signer.verify(&altered, 42).is_err(), "altered at {at}");
        }
        assert!(Signer::random().unwrap().verify(&text, 42).is_err());
        assert!(signer.verify("12", 42).is_err());
    }
}
