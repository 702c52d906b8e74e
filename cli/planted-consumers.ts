/**
 * Consumers a zone member could make before members were held to durables (runtime/jetstream/
 * authorization.ts): ephemeral push consumers, which a restart of nats-server switches on when a
 * stream captures their delivery subject (the admins' dead letters, the registry's buckets). A
 * config reload leaves them in place, so `onex streams apply` removes them from the streams it
 * applies. onex makes none: its consumers there are pulled, and the push consumers it does make
 * (a registry watch's, on other streams) deliver to a reply inbox.
 */
import type { JetStreamManager } from "@nats-io/jetstream";

/** Removes each push consumer of `streams` with no durable name that delivers outside a reply inbox (`_INBOX...`); says which, as `stream/consumer -> subject`. */
export async function removePlantedConsumers(jsm: JetStreamManager, streams: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const stream of streams) {
    for await (const info of jsm.consumers.list(stream)) {
      const { durable_name: durable, deliver_subject: deliver } = info.config;
      if (durable || !deliver || deliver.startsWith("_INBOX")) continue;
      await jsm.consumers.delete(stream, info.name);
      removed.push(`${stream}/${info.name} -> ${deliver}`);
    }
  }
  return removed;
}
