//! The checksums S3 keeps of an object, by one HEAD with `x-amz-checksum-mode: ENABLED`: no
//! byte of the object is read, and a HEAD is billed as a GET.
//!
//! object_store's own `head` does not ask for checksums, so the request is presigned by
//! object_store with the header bound into the signature (S3 refuses unsigned `x-amz-*`
//! headers) and sent with the HTTP client object_store builds, retried here as object_store
//! retries its own requests.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use object_store::client::{HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::path::Path as ObjectPath;
use object_store::signer::{HeaderName, HeaderValue, Method, SignedUrlOptions, Signer};

use super::Bucket;

/// How long a presigned HEAD stays valid: it is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(900);
const CHECKSUM_MODE: &str = "x-amz-checksum-mode";

/// What S3 says of an object without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectChecksums {
    /// Bytes of the object.
    pub size: u64,
    /// Its full-object CRC64NVME, which S3 computes for every upload since late 2024.
    pub crc64nvme: Option<u64>,
    /// Its SHA-256, kept when the uploader sent one (a full-object one, not a composite of parts).
    pub sha256: Option<[u8; 32]>,
    /// Its MD5, when its ETag is one: a single-part upload not encrypted with KMS.
    pub md5: Option<[u8; 16]>,
}

impl Bucket {
    /// The checksums S3 keeps for the object at `key` (relative to the store), or `None` when
    /// there is no such object. Throttled and failed requests are tried again.
    pub async fn head_checksums(&self, key: &str) -> Result<Option<ObjectChecksums>> {
        let path = ObjectPath::from(format!("{}{key}", self.root));
        let cannot = || format!("cannot HEAD {}/{key}", self.url);
        let mut backoff = Duration::from_millis(100);
        for attempt in 0..=self.settings.retries {
            match self.head_once(&path).await {
                Ok(Reply::Found(sums)) => return Ok(Some(sums)),
                Ok(Reply::Missing) => return Ok(None),
                Ok(Reply::Refused(status)) => bail!("{}: S3 answered {status} ({})", cannot(), self.credentials),
                Ok(Reply::Retry(_)) | Err(_) if attempt < self.settings.retries => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                }
                Ok(Reply::Retry(status)) => bail!("{}: S3 answered {status} every time", cannot()),
                Err(err) => return Err(err).with_context(cannot),
            }
        }
        bail!("{}: no attempt left", cannot())
    }

    async fn head_once(&self, path: &ObjectPath) -> Result<Reply> {
        let mode = (HeaderName::from_static(CHECKSUM_MODE), HeaderValue::from_static("ENABLED"));
        let options = SignedUrlOptions::default().with_signed_header(mode.0.clone(), mode.1.clone());
        let url = self.store.signed_url_opts(Method::HEAD, path, SIGNED_FOR, &options).await?;
        let request = http::Request::builder()
            .method(Method::HEAD)
            .uri(url.as_str())
            .header(mode.0, mode.1)
            .body(HttpRequestBody::empty())?;
        let client = self.http_client()?;
        let reply = tokio::time::timeout(self.settings.timeout, client.execute(request)).await;
        let Ok(reply) = reply else { return Ok(Reply::Retry("no answer in time".into())) };
        let reply = reply?;
        let status = reply.status();
        if status.as_u16() == 404 {
            return Ok(Reply::Missing);
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Ok(Reply::Retry(status.to_string()));
        }
        if !status.is_success() {
            return Ok(Reply::Refused(status.to_string()));
        }
        Ok(Reply::Found(checksums_of(reply.headers())))
    }

    /// The HTTP client HEADs are sent with, made once per bucket.
    fn http_client(&self) -> Result<&HttpClient> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = ReqwestConnector::default().connect(&self.client_options)?;
        Ok(self.http.get_or_init(|| client))
    }
}

/// How one HEAD went.
enum Reply {
    Found(ObjectChecksums),
    Missing,
    /// Throttled or failed on the server's side: worth another try.
    Retry(String),
    /// Refused (forbidden, bad request): another try would be refused too.
    Refused(String),
}

/// Reads the checksums out of a HEAD's answer.
fn checksums_of(headers: &http::HeaderMap) -> ObjectChecksums {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let base64 = |name: &str| text(name).and_then(decode_base64);
    let kms = text("x-amz-server-side-encryption").is_some_and(|value| value.starts_with("aws:kms"));
    ObjectChecksums {
        size: text("content-length").and_then(|size| size.parse().ok()).unwrap_or(0),
        crc64nvme: base64("x-amz-checksum-crc64nvme")
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(u64::from_be_bytes),
        // A composite checksum (of parts) reads `...=-3`: not the object's, so not decoded.
        sha256: base64("x-amz-checksum-sha256").and_then(|bytes| bytes.try_into().ok()),
        md5: if kms { None } else { text("etag").and_then(etag_md5) },
    }
}

/// The MD5 an ETag is, when it is one: 32 hex digits, quoted, with no `-N` part count.
fn etag_md5(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.trim().trim_start_matches("W/").trim_matches('"');
    if hex.len() != 32 {
        return None;
    }
    let mut md5 = [0u8; 16];
    for (at, byte) in md5.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * at..2 * at + 2)?, 16).ok()?;
    }
    Some(md5)
}

/// Standard base64, as S3 writes checksums; `None` for anything else.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_read_from_a_head_and_an_etag_is_an_md5_only_when_it_is_one() {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("9"));
        // CRC64NVME of "123456789" (0xAE8B14860A799888), as S3 writes it.
        headers.insert("x-amz-checksum-crc64nvme", HeaderValue::from_static("rosUhgp5mIg="));
        headers.insert("etag", HeaderValue::from_static("\"25f9e794323b453885f5181f1b624d0b\""));
        let sums = checksums_of(&headers);
        assert_eq!(sums.size, 9);
        assert_eq!(sums.crc64nvme, Some(0xAE8B_1486_0A79_9888));
        assert_eq!(sums.md5.map(|md5| md5[0]), Some(0x25));
        assert_eq!(sums.sha256, None);
        headers.insert("etag", HeaderValue::from_static("\"25f9e794323b453885f5181f1b624d0b-3\""));
        assert_eq!(checksums_of(&headers).md5, None, "a multipart upload's ETag");
        headers.insert("etag", HeaderValue::from_static("\"25f9e794323b453885f5181f1b624d0b\""));
        headers.insert("x-amz-server-side-encryption", HeaderValue::from_static("aws:kms"));
        assert_eq!(checksums_of(&headers).md5, None, "an SSE-KMS object's ETag");
    }
}
