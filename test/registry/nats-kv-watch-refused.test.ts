/**
 * A NATS KV registry watch whose user may read the bucket but not make the watch's consumer
 * (publish on $JS.API.CONSUMER.CREATE denied, as a trimmed grant or a reload that removed it
 * leaves it). docs/registry.md says such a watch ends with ONEX_E_REGISTRY_UNAVAILABLE naming
 * the grant (`details.permission`), as etcd's does; it retried every 250 ms for ever instead,
 * delivering nothing, not even `synced`, and saying nothing: a watcher that could not tell a
 * missing grant from a quiet registry.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { openRegistry } from "../../runtime/registry/open-registry.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { settledWithin } from "../support/settled-within.js";

/** An admin (who makes the bucket), and a reader who may do everything docs/registry.md names but create consumers. */
const NATS_CONFIG = `authorization { users: [
  { user: admin, password: "admin-pass" },
  { user: reader, password: "reader-pass", permissions: {
    publish: { allow: ["$JS.API.>", "$KV.reg.>", "$KV.reg_marks.>", "_INBOX.>"], deny: ["$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>"] },
    subscribe: { allow: [">"] } } }
] }`;

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer({ config: NATS_CONFIG });
});
afterAll(async () => {
  await nats?.stop();
});

const hostOf = (url: string) => url.replace(/^[a-z]+:\/\//, "");

it("a watch whose consumer the server refuses for want of permission ends with the refusal, typed, naming the grant", async () => {
  const quiet = { warn() {} };
  // The admin makes the buckets; the reader then opens them.
  const admin = await openRegistry(`nats://admin:admin-pass@${hostOf(nats.url)}?bucket=reg&ttl=2s`, { logger: quiet });
  const reader = await openRegistry(`nats://reader:reader-pass@${hostOf(nats.url)}?bucket=reg&ttl=2s`, { logger: quiet });
  try {
    const watch = reader.watch();
    const first = watch.next();
    // "pending" (the watch retrying the refused creation for ever) is the failure.
    expect(await settledWithin(first, 20_000)).toBe(`rejected ${ErrorCode.RegistryUnavailable}`);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    expect((error as OnexError).details).toMatchObject({ permission: "publish" });
    expect(String((error as OnexError).details.subject)).toMatch(/^\$JS\.API\.CONSUMER\.CREATE\./);
  } finally {
    await Promise.all([reader.close(), admin.close()]);
  }
}, 60_000);
