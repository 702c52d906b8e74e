/** The control plane on NATS JetStream: the typed client, streams, dead letters and the server configuration. Needs the optional peers `@nats-io/transport-node`, `@nats-io/jetstream` and `@nats-io/kv`. */
export { checkServers, connect, connectFailure, OnexClient, type ConnectOptions } from "./client.js";
export { serverCredentials, type Credentials, type ServerCredentials } from "./server-credentials.js";
export { checkTlsFiles, type TlsFiles } from "../tls-files.js";
export { defaultVerifyThreads } from "../receive/verify-ahead.js";
export { DEAD_LETTER_STREAM, MAX_STREAM_AGE_MS, MIN_STREAM_AGE_MS, applyStreams, planStreams, revertStreams, streamNameOf, withUndo, zoneStreamNameOf, type StreamChange, type StreamLimits, type StreamRevert, type StreamPlan } from "./streams.js";
export { deadLetterStreamOf, getDeadLetter, listDeadLetters, readDeadLetters, type DeadLetter, type LetterQuery } from "./dead-letter.js";
export { originalOf, planReplay, replayDeadLetter, type ReplayCheck, type ReplayPlan } from "./dead-letter-replay.js";
export { accountOf, assertServableIdentities, DEFAULT_ZONE_ADMIN_CONNECTIONS, DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS, DEFAULT_ZONE_CONNECTIONS, DEFAULT_ZONE_CONSUMERS, DEFAULT_ZONE_SUBSCRIPTIONS, inboxPrefixOf, natsAccountsConfig, zonesOf, type AuthIdentity, type ZoneAccountLimits } from "./authorization.js";
export { readHistory, type HistoryEntry, type HistoryOptions } from "./history.js";
