//! Feeds arbitrary bytes to the shard-topic record decoder. A decoder error
//! is fine; a panic, or a decoded record that does not survive re-encoding,
//! is a bug. Half the inputs get a valid header so the fuzzer reaches the
//! body decoders quickly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use schemas::record::{POINT_BATCH_SCHEMA, SINGLE_OBJECT_MARKER, TOMBSTONE_SCHEMA};
use schemas::LogRecord;

fn check(bytes: &[u8]) {
    match LogRecord::decode(bytes) {
        Ok(LogRecord::Points(batch)) => {
            let again = batch.encode();
            let decoded = LogRecord::decode(&again).expect("re-encoded batch decodes");
            // Compare through Debug: NaN floats are not equal to themselves.
            assert_eq!(format!("{decoded:?}"), format!("{:?}", LogRecord::Points(batch)));
        }
        Ok(LogRecord::Tombstone(t)) => {
            let again = t.encode();
            assert_eq!(LogRecord::decode(&again).expect("re-encoded tombstone decodes"), LogRecord::Tombstone(t));
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let Some((&selector, body)) = data.split_first() else { return };
    let fingerprint = if selector & 1 == 0 {
        POINT_BATCH_SCHEMA.fingerprint
    } else {
        TOMBSTONE_SCHEMA.fingerprint
    };
    let mut framed = SINGLE_OBJECT_MARKER.to_vec();
    framed.extend_from_slice(&fingerprint.to_le_bytes());
    framed.extend_from_slice(body);
    check(&framed);
});
