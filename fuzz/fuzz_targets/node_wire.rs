//! Feeds arbitrary bytes to the decoders of the node-to-node shard read
//! (`POST /internal/v1/shard`): the request a replica decodes
//! (`ShardReadRequest<ShardOp>`, as `shardd/src/queries/shard_api.rs`
//! does) and the answer a coordinator decodes (`ShardReadResponse<ShardOut>`,
//! as `node_client` does). A decode error is fine; a panic, an allocation
//! the input cannot pay for, or a decoded value whose encoding does not
//! decode back to the same encoding, is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use query::{ShardOp, ShardOut};
use schemas::node_api::{ShardReadRequest, ShardReadResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn check<T: Serialize + DeserializeOwned>(bytes: &[u8]) {
    let Ok(v) = bincode::deserialize::<T>(bytes) else { return };
    let once = bincode::serialize(&v).expect("a decoded value encodes");
    let back: T = bincode::deserialize(&once).expect("an encoded value decodes");
    assert_eq!(bincode::serialize(&back).expect("encodes"), once);
}

fuzz_target!(|data: &[u8]| {
    check::<ShardReadRequest<ShardOp>>(data);
    check::<ShardReadResponse<ShardOut>>(data);
});
