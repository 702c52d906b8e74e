/**
 * A NATS KV bucket's reads and compare-and-set writes on the registry's hot paths, sent on the
 * store's reply inbox (runtime/jetstream/reply-inbox.ts: nats.js builds an Error for every
 * request that succeeds, ~20 µs of a ~200 µs read here). They are the requests nats.js's KV
 * makes: a direct get of the key's last message, and a publish on the key's subject with
 * `Nats-Expected-Last-Subject-Sequence`. A replicated bucket is read through its leader (see
 * nats-kv.ts), by nats.js. Subjects are the default API prefix's and a bucket's own, as the
 * registry creates its buckets: no JetStream domain, and no mirror or stream of other
 * subjects (openNatsKvStore refuses those).
 */
import type { KV } from "@nats-io/kv";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { ReplyInbox } from "../jetstream/reply-inbox.js";
import { publishToStream } from "../jetstream/stream-publish.js";
import { readableHeaders } from "../jetstream/headers.js";

/** A key's last message, as nats.js's KvEntry gives it. */
export interface KvRecord {
  /** `PUT`, `DEL` or `PURGE` as written, or whatever else a store writer put in `KV-Operation`: only `PUT` is a value. */
  operation: string;
  revision: number;
  /** The server's timestamp of the write. */
  created: Date;
  value: Uint8Array;
  string(): string;
}

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
/** JetStream's "wrong last sequence" (10071) and its variant for a subject the stream has never held (10164). */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

export class KvBucket {
  constructor(
    readonly kv: KV,
    readonly name: string,
    /** Whether reads are direct gets: the stream allows them and has one replica. */
    readonly direct: boolean,
    readonly inbox: ReplyInbox,
    readonly timeoutMs: number,
  ) {}

  /** The key's last message (a put, or a delete or purge marker), or null when it has none. */
  async get(key: string): Promise<KvRecord | null> {
    const subject = `$KV.${this.name}.${key}`;
    if (!this.direct) {
      const entry = await this.kv.get(key);
      // nats.js reads the operation from the stored headers when it is first asked for; the rest
      // comes from the stored message's JSON.
      if (entry === null || readableHeaders(() => entry.operation) !== null) return entry;
      const value = entry.value;
      return { operation: "PUT", revision: entry.revision, created: entry.created, value, string: () => fromUtf8.decode(value) };
    }
    // The key's subject in the request's own subject, as nats.js sends it, so permissions can govern it.
    const reply = await this.inbox.request(`$JS.API.DIRECT.GET.KV_${this.name}.${subject}`, EMPTY, undefined, this.timeoutMs);
    const found = readableHeaders(() => reply.headers);
    if (found === null) return this.#readAsPut(key, subject);
    if (found?.code === 404) return null;
    if (found === undefined || found.code !== 0) throw new Error(`direct get of ${key} in ${this.name} failed: ${found?.code ?? "no headers"} ${found?.description ?? ""}`.trimEnd());
    // The stored message's own headers come first and the server's after them: whoever writes to
    // the bucket can write a `Nats-Sequence` or `Nats-Time-Stamp` of their own, so the server's
    // are the last ones, as nats.js reads them. The operation is the writer's, read as nats.js does.
    if (found.last("Nats-Subject") !== subject) return null;
    const value = reply.data;
    return {
      operation: found.get("Nats-Marker-Reason") === "MaxAge" ? "PURGE" : found.get("KV-Operation") || "PUT",
      revision: parseInt(found.last("Nats-Sequence")),
      created: new Date(Date.parse(found.last("Nats-Time-Stamp"))),
      value,
      string: () => fromUtf8.decode(value),
    };
  }

  /**
   * The last message at `subject` when its headers cannot be read (readableHeaders): whoever may
   * write to the bucket may write such headers, as they may write any bytes. Read through the
   * stream's JSON API, whose sequence, time and data need no header read (a second request, made
   * only for such a message), and taken as a put, as the read above takes one: its bytes are then
   * judged as any others, and a compare-and-set on its revision replaces it. (Refused outright,
   * it would keep a node's address from being read or registered for good.)
   */
  async #readAsPut(key: string, subject: string): Promise<KvRecord | null> {
    const reply = await this.inbox.request(`$JS.API.STREAM.MSG.GET.KV_${this.name}`, utf8.encode(JSON.stringify({ last_by_subj: subject })), undefined, this.timeoutMs);
    const answer = JSON.parse(fromUtf8.decode(reply.data)) as { message?: { seq: number; time: string; data?: string }; error?: { code?: number; description?: string } };
    if (answer.error?.code === 404) return null;
    if (answer.message === undefined) throw new Error(`get of ${key} in ${this.name} failed: ${answer.error?.description ?? "no message in the answer"}`);
    const value = answer.message.data === undefined ? EMPTY : new Uint8Array(Buffer.from(answer.message.data, "base64"));
    return { operation: "PUT", revision: answer.message.seq, created: new Date(answer.message.time), value, string: () => fromUtf8.decode(value) };
  }

  /** Writes `value` if the key's last revision is `revision`; resolves with the new revision. */
  async update(key: string, value: string | Uint8Array, revision: number): Promise<number> {
    const expected = natsHeaders();
    expected.set("Nats-Expected-Last-Subject-Sequence", String(revision));
    const bytes = typeof value === "string" ? utf8.encode(value) : value;
    return (await publishToStream(this.inbox, `$KV.${this.name}.${key}`, bytes, expected, this.timeoutMs)).seq;
  }

  /** Writes `value` if the key holds nothing, or only a delete or purge marker; resolves with the new revision. */
  async create(key: string, value: string | Uint8Array): Promise<number> {
    try {
      return await this.update(key, value, 0);
    } catch (error) {
      if (!WRONG_LAST_SEQUENCE.has((error as { errCode?: number }).errCode ?? 0)) throw error;
      const last = await this.get(key);
      if (last === null || last.operation === "PUT") throw error;
      return this.update(key, value, last.revision);
    }
  }
}
