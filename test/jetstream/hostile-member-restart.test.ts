/**
 * A hostile zone member's push consumers across a restart of nats-server. A push consumer
 * delivers only while a client subscribes to its subject; but nats-server recovers an
 * ephemeral one after a restart with a check that counts a stream's capture of the subject as a
 * listener, so a member's ephemeral push consumer aimed at the admins' dead letters or the
 * registry's buckets delivered there from the restart on, under headers of its choosing. Members
 * may make durable consumers only, and those this test makes, aimed at the same subjects,
 * deliver nothing before the restart or after it. Its own server: the restart would cut every
 * other test's connections.
 */
import { join } from "node:path";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ErrorCode } from "../../runtime/errors.js";
import { deadLetterSubject } from "../../runtime/jetstream/dead-letter.js";
import { OnexHeader } from "../../runtime/jetstream/headers.js";
import { DEAD_LETTER_STREAM, streamNameOf, zoneStreamNameOf } from "../../runtime/jetstream/streams.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { makeNode } from "../registry/fixtures.js";
import { runCli } from "../support/run-cli.js";
import { removeTempDirs } from "../support/temp-schemas.js";
import { ZONE_A, refusedByServer, startTwoZones, update, type TwoZones } from "./zones.js";

const STREAM_A = zoneStreamNameOf("event", ZONE_A);
const BUCKET = "onex_registry";
const STORES = [DEAD_LETTER_STREAM, `KV_${BUCKET}`, `KV_${BUCKET}_marks`];
let zones: TwoZones;

beforeAll(async () => {
  zones = await startTwoZones();
  // The zone's registry, as its admin runs it: its buckets exist and hold one node.
  const registry = await openRegistry(`${zones.server.url.replace("nats://", "nats://admin-a:admin-a-pw@")}?bucket=${BUCKET}&ttl=30s`, { onTampered: () => {}, logger: { warn() {} } });
  const node = makeNode(ZONE_A);
  await registry.register(node.entry, node.identity);
  await registry.close();
});

afterAll(async () => {
  await zones?.stop();
  await removeTempDirs();
});

/** Messages in the admins' dead letters and the registry's buckets, as zone A's admin reads them. */
async function stored(admin: NatsConnection): Promise<number[]> {
  const jsm = await jetstreamManager(admin);
  return Promise.all(STORES.map(async (s) => (await jsm.streams.info(s)).state.messages));
}

it("a member's push consumers aimed at the admins' dead letters and the registry's buckets deliver nothing into them, before a restart of the server or after it", async () => {
  const { nc, js } = await zones.raw("a");
  const subject = update(ZONE_A, "a-planted").subject();
  // Letter headers and a KV operation of the member's choosing, as the stored copies would carry them.
  const h = natsHeaders();
  h.set(OnexHeader.DlqReason, ErrorCode.HandlerFailed);
  h.set(OnexHeader.DlqStream, STREAM_A);
  h.set(OnexHeader.DlqConsumer, "billing");
  h.set(OnexHeader.DlqSubject, subject);
  h.set("KV-Operation", "PUT");
  await js.publish(subject, '{"from":"member node-a"}', { headers: h });
  const targets = [deadLetterSubject(undefined, streamNameOf("event"), "billing"), `$KV.${BUCKET}.zone~2Ea.node.planted`, `$KV.${BUCKET}_marks.zone~2Ea.node.planted`];
  // Kept for a day unless deleted, as an attacker would ask.
  const config = (deliver: string) => ({ ack_policy: AckPolicy.None, deliver_policy: "all", filter_subject: subject, deliver_subject: deliver, inactive_threshold: 24 * 3600e9 });
  for (const deliver of targets) {
    // No ephemeral consumer, on either of the subjects that make one.
    expect(await refusedByServer(nc, `$JS.API.CONSUMER.CREATE.${STREAM_A}`, JSON.stringify({ stream_name: STREAM_A, config: config(deliver) }))).toBe(true);
    expect(await refusedByServer(nc, `$JS.API.CONSUMER.CREATE.${STREAM_A}.planted.${subject}`, JSON.stringify({ stream_name: STREAM_A, config: { ...config(deliver), name: "planted" } }))).toBe(true);
  }
  const durables = targets.map((_, i) => `planted-${i}`);
  for (const [i, deliver] of targets.entries()) {
    const made = JSON.parse((await nc.request(`$JS.API.CONSUMER.DURABLE.CREATE.${STREAM_A}.${durables[i]}`, JSON.stringify({ stream_name: STREAM_A, config: { ...config(deliver), durable_name: durables[i] } }))).string()) as { error?: unknown };
    expect(made.error).toBeUndefined();
  }
  const admin = (await zones.raw("adminA")).nc;
  const before = await stored(admin);

  // A graceful restart on the same store, every client gone first.
  await Promise.all([nc.close(), admin.close()]);
  zones.server.process.kill("SIGTERM");
  await new Promise((resolve) => zones.server.process.once("exit", resolve));
  await zones.server.restart();

  const attacker = await zones.raw("a");
  // Once more after the restart, so a consumer switched on has something new to deliver too.
  await attacker.js.publish(subject, '{"again":true}', { headers: h });
  // Each consumer given the time a delivery takes (it says when it has delivered anything).
  const delivered: number[] = [];
  for (const name of durables) {
    let count = 0;
    for (let look = 0; look < 20 && count === 0; look++) {
      count = (JSON.parse((await attacker.nc.request(`$JS.API.CONSUMER.INFO.${STREAM_A}.${name}`)).string()) as { delivered: { consumer_seq: number } }).delivered.consumer_seq;
      if (count === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    delivered.push(count);
  }
  expect(delivered).toEqual([0, 0, 0]);
  expect(await stored((await zones.raw("adminA")).nc)).toEqual(before);
});

it("onex streams apply removes the ephemeral push consumers a member could plant before members were held to durables, and leaves every other consumer", async () => {
  // Made as the admin, who may still make what members could before the config changed.
  const { nc } = await zones.raw("adminA");
  const ephemeral = async (config: Record<string, unknown>) =>
    (JSON.parse((await nc.request(`$JS.API.CONSUMER.CREATE.${STREAM_A}`, JSON.stringify({ stream_name: STREAM_A, config: { ack_policy: AckPolicy.None, inactive_threshold: 24 * 3600e9, ...config } }))).string()) as { name: string }).name;
  const planted = await ephemeral({ deliver_subject: deadLetterSubject(undefined, streamNameOf("event"), "billing") });
  const inbox = await ephemeral({ deliver_subject: "_INBOX.watching" });
  const pulled = await ephemeral({});
  const applied = runCli(["streams", "apply", "--identities", join(zones.dir, "identities.yaml"), "--server", zones.server.url]);
  expect(applied.status).toBe(0);
  expect(applied.stderr).toContain(`removed ${STREAM_A}/${planted} -> onex.dlq.~.ONEX_EVENT.billing: an ephemeral push consumer delivering outside a reply inbox`);
  const names: string[] = [];
  for await (const info of (await jetstreamManager(nc)).consumers.list(STREAM_A)) names.push(info.name);
  expect(names).not.toContain(planted);
  expect(names).toEqual(expect.arrayContaining([inbox, pulled]));
});

