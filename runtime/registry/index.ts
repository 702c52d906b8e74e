/** Registry and discovery: canonical addresses, one registry interface over NATS KV, etcd and Consul (each backend loads only when a URL names it; etcd3 and consul are optional peers), health and routing. */
export { ADDRESS_SCHEME, EntityType, assertZone, buildAddress, isCanonicalAddress, nodeAddress, parseAddress, type CanonicalAddress } from "./address.js";
export { HealthStatus, type Registry, type RegistryChange, type RegistryFilter, type RegistryOptions, type RegistryStore, type ResolvedEntry, type StoredMark, type WatchOptions } from "./registry.js";
export { REGISTRY_SCHEMES, openRegistry, parseRegistryUrl, type RegistryUrl } from "./open-registry.js";
export { DEFAULT_TTL_MS, TrustedRegistry } from "./trusted-registry.js";
export { MAX_REGISTRATION_CHARS } from "./registry.js";
export { RegistryView } from "./registry-view.js";
export { HealthWatcher, type ControlPlaneMessages, type HealthWatcherOptions } from "./health-watcher.js";
export { keepAlive, type KeepAliveOptions } from "./keep-alive.js";
export { Router, type DispatchMessages, type DispatchOutcome, type DispatchTransport, type FallbackProof, type RouteRequest, type RouteResult, type RouterOptions } from "./router.js";
