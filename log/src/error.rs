//! Why a Kafka operation failed: one variant per cause.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Why a client could not be created or an administrative call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// librdkafka refused the configuration of a client.
    #[error("cannot create the Kafka {role}: {source}")]
    Client {
        /// Which client (`producer`, `replica consumer`, ...).
        role: &'static str,
        /// The cause.
        source: Box<KafkaError>,
    },
    /// Creating a topic failed.
    #[error("creating topic {topic}: {source}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// The cause.
        source: Box<KafkaError>,
    },
    /// Deleting a topic failed.
    #[error("deleting topic {topic}: {source}")]
    DeleteTopic {
        /// The topic.
        topic: String,
        /// The cause.
        source: Box<KafkaError>,
    },
    /// Reading a topic's configuration failed.
    #[error("describing the configuration of topic {topic}: {source}")]
    DescribeConfigs {
        /// The topic.
        topic: String,
        /// The cause.
        source: Box<KafkaError>,
    },
    /// Deleting the records below an offset failed.
    #[error("deleting the records of {topic}[{partition}] below offset {before}: {source}")]
    DeleteRecords {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The first offset to keep.
        before: i64,
        /// The cause.
        source: Box<KafkaError>,
    },
    /// The cluster's metadata could not be read.
    #[error("fetching cluster metadata: {0}")]
    Metadata(#[source] Box<KafkaError>),
    /// A partition's watermarks could not be read.
    #[error(transparent)]
    Watermarks(Box<WatermarkError>),
}

// Causes are boxed so that an `Error` stays small: it travels inside the
// error enums of every caller.

impl From<WatermarkError> for Error {
    fn from(e: WatermarkError) -> Self {
        Error::Watermarks(Box::new(e))
    }
}

impl Error {
    /// The librdkafka error underneath.
    pub fn kafka_error(&self) -> &KafkaError {
        match self {
            Error::Client { source, .. }
            | Error::CreateTopic { source, .. }
            | Error::DeleteTopic { source, .. }
            | Error::DescribeConfigs { source, .. }
            | Error::DeleteRecords { source, .. }
            | Error::Metadata(source) => source,
            Error::Watermarks(e) => &e.source,
        }
    }
}

/// A partition's watermarks could not be read.
#[derive(Debug, thiserror::Error)]
#[error("fetching the watermarks of {topic}[{partition}]: {source}")]
pub struct WatermarkError {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The cause (`Canceled` when the blocking task did not finish).
    pub source: KafkaError,
}

impl WatermarkError {
    /// The client does not know the partition (yet): a topic created a
    /// moment ago can be missing from its metadata for a while, so this is
    /// worth retrying, unlike a broker that does not answer.
    pub fn is_unknown_partition(&self) -> bool {
        matches!(
            self.source.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::UnknownPartition
                    | RDKafkaErrorCode::UnknownTopic
                    | RDKafkaErrorCode::UnknownTopicOrPartition
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_small() {
        assert!(
            std::mem::size_of::<Error>() <= 64,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn unknown_partition_is_told_apart() {
        let e = |source| WatermarkError {
            topic: "t".into(),
            partition: 0,
            source,
        };
        assert!(e(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownPartition
        ))
        .is_unknown_partition());
        assert!(!e(KafkaError::MetadataFetch(
            RDKafkaErrorCode::BrokerTransportFailure
        ))
        .is_unknown_partition());
        assert!(!e(KafkaError::Canceled).is_unknown_partition());
    }
}
