//! The name of every span and metric attribute this workspace's own spans carry outside the
//! query-span conventions (`bolt_tracer::conventions::attribute`, which takes the general ones
//! from here): messaging, HTTP server and the general OpenTelemetry names, each defined once.
//! The values of `messaging.system` and of the operation attributes are the semantic
//! conventions' words for Kafka.

/// `error.type`: a low-cardinality class of the failure (an error code or kind, never a message).
pub const ERROR_TYPE: &str = "error.type";
/// `server.address`: the host the client connected to.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`: the port the client connected to.
pub const SERVER_PORT: &str = "server.port";
/// `client.address`: the peer of an HTTP server's connection.
pub const CLIENT_ADDRESS: &str = "client.address";
/// `network.protocol.version`: the version of the application protocol (`1.1`, `2`, `5.8`).
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";

/// `messaging.system`: always `kafka` here.
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// `messaging.operation.type`: `send`, `receive`, `process` or `settle`.
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// `messaging.operation.name`: the client's own name of the operation (`send`, `poll`,
/// `process`, `commit`).
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
/// `messaging.destination.name`: the topic.
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// `messaging.destination.partition.id`: the partition, as a string.
pub const MESSAGING_DESTINATION_PARTITION_ID: &str = "messaging.destination.partition.id";
/// `messaging.consumer.group.name`: the consumer group.
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
/// `messaging.message.body.size`: the payload's size in bytes.
pub const MESSAGING_MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
/// `messaging.batch.message_count`: the records a batch operation covers.
pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
/// `messaging.kafka.offset`: the record's offset in its partition.
pub const MESSAGING_KAFKA_OFFSET: &str = "messaging.kafka.offset";
/// `messaging.kafka.message.key`: the record's key; recorded only when asked for, since a key
/// is often a value (see `kafka::OutgoingRecord::with_key_on_span`).
pub const MESSAGING_KAFKA_MESSAGE_KEY: &str = "messaging.kafka.message.key";
/// `messaging.kafka.queue_time_ms`: how long a consumed record waited between its timestamp
/// and its processing (ours: the conventions have no such attribute).
pub const MESSAGING_KAFKA_QUEUE_TIME_MS: &str = "messaging.kafka.queue_time_ms";

/// `http.request.method`.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.route`: the matched route template, never the path with its values.
pub const HTTP_ROUTE: &str = "http.route";
/// `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `url.path`.
pub const URL_PATH: &str = "url.path";
/// `url.scheme`.
pub const URL_SCHEME: &str = "url.scheme";
/// `user_agent.original`.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";

/// `telemetry.propagation.problem` (ours): why incoming trace context was not used, on the span
/// that started a new trace instead (see [`crate::propagation`]).
pub const TELEMETRY_PROPAGATION_PROBLEM: &str = "telemetry.propagation.problem";
/// `_dd.parent_id` (dd-trace's name): the last Datadog parent, when the W3C parent won.
pub const DD_PARENT_ID: &str = "_dd.parent_id";
