// When a NATS KV watch takes its bucket's stream for reset (nats-kv-history.ts), from stream infos as nats-server gives them.
import { describe, expect, it } from "vitest";
import { historyReset } from "../../runtime/registry/nats-kv-history.js";

const created = "2024-05-01T10:00:00.000000001Z";
const seen = { created, upTo: 20, last: { revision: 20, at: Date.parse("2024-05-01T10:05:00Z") } };
const stream = (first_seq: number, last_seq: number, first_ts: string, at = created) => ({ created: at, state: { first_seq, last_seq, first_ts } });

describe("historyReset", () => {
  it("keeps a stream that went on, was purged (its last sequence kept), or lost old messages to max age", () => {
    expect(historyReset(seen, stream(3, 40, "2024-05-01T10:01:00.123456789Z"))).toBeUndefined();
    expect(historyReset(seen, stream(21, 20, "0001-01-01T00:00:00Z"))).toBeUndefined();
    expect(historyReset(seen, stream(20, 20, "2024-05-01T10:05:00.000900000Z"))).toBeUndefined();
    expect(historyReset({ created, upTo: 20 }, stream(25, 30, "2024-05-01T10:09:00Z"))).toBeUndefined();
  });
  it("takes for reset a stream numbered back, made again empty, refilled past the revision read, or created again", () => {
    expect(historyReset(seen, stream(0, 0, "0001-01-01T00:00:00Z"))).toMatch(/last revision is 0, below revision 20/);
    expect(historyReset(seen, stream(1, 12, "2024-05-01T10:06:00Z"))).toMatch(/below revision 20/);
    expect(historyReset(seen, stream(4, 30, "2024-05-01T10:06:00Z"))).toMatch(/first revision 4 was written at .* after revision 20/);
    expect(historyReset(seen, stream(30, 40, "2024-05-01T10:09:00Z", "2024-05-01T10:08:00Z"))).toMatch(/created again/);
  });
});
