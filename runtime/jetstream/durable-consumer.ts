/**
 * Consumers as a zone member may make them: durable, created (or updated) on the API subject
 * `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<name>`, the only consumer-making subject a member is
 * granted (authorization.ts says why: an ephemeral push consumer of a member's is switched on by
 * nats-server's restart and delivers into the zone's streams). nats.js sends every named
 * consumer, durable or not, to `$JS.API.CONSUMER.CREATE.<stream>.<name>` on a server from 2.9,
 * so the request is made here. A consumer meant to last no longer than its reader is a durable
 * with an `inactive_threshold`, which the server removes as it would an ephemeral one.
 */
import type { ConsumerConfig, ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";

/**
 * The consumer `config.durable_name` of `stream`: made (`create`: refused by a server from 2.10
 * when one of that name exists with another configuration) or brought to `config` (`update`:
 * refused when none exists). nats-server 2.9 knows no action: it makes the consumer, or changes
 * one that exists where it allows the change.
 */
export async function putDurableConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }, action: "create" | "update" = "create"): Promise<ConsumerInfo> {
  // The manager's own request: its API prefix (a domain's), its timeout, and the server's refusal thrown as nats.js throws it.
  const api = jsm.consumers as unknown as { prefix: string; _request(subject: string, data: unknown): Promise<unknown> };
  return (await api._request(`${api.prefix}.CONSUMER.DURABLE.CREATE.${stream}.${config.durable_name}`, { stream_name: stream, config, action })) as ConsumerInfo;
}
