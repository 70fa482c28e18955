//! Feeds arbitrary requests to `/write`'s and `/api/v2/write`'s handling
//! before the log, as `ingest/src/http.rs` runs it: the URL's query string
//! (`WriteTarget::v1`/`v2`: database, retention policy, precision,
//! credentials from `u`/`p` or the `Authorization` header), the body
//! (gunzipped under the size limit, `decode_body`), and the line protocol
//! parsed at the request's precision. The input is `flags query \0
//! authorization \0 body` (flag bit 0: v2, bit 1: gzip). Errors are fine; a
//! panic, an error that is not a client error, or a body past the limit is
//! a bug.

#![no_main]

use bytes::Bytes;
use ingest::http::{decode_body, WriteTarget};
use libfuzzer_sys::fuzz_target;

const MAX_BODY: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.splitn(3, |b| *b == 0);
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let authorization = parts.next().map(String::from_utf8_lossy);
    let body = parts.next().unwrap_or_default();
    let target = if flags & 1 == 0 {
        WriteTarget::v1(&query, authorization.as_deref())
    } else {
        WriteTarget::v2(&query, authorization.as_deref())
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400, "{}", e.message);
            return;
        }
    };
    assert!(!target.database.is_empty());
    let body = match decode_body(Bytes::copy_from_slice(body), flags & 2 != 0, MAX_BODY) {
        Ok(b) => b,
        Err(e) => {
            assert!(matches!(e.status.as_u16(), 400 | 413), "{}", e.message);
            return;
        }
    };
    assert!(body.len() <= MAX_BODY);
    let batch = line_protocol::parse_batch_bytes(&body, target.precision, 0);
    assert!(batch.points.len() <= body.len());
});
