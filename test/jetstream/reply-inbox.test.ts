/**
 * The publish path's own request/reply (runtime/jetstream/reply-inbox.ts) against a real
 * nats-server: every reply reaches its own request whatever the order, and every way a request
 * can fail fails it, with the words publishError types, and leaves nothing waiting.
 */
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReplyInbox } from "../../runtime/jetstream/reply-inbox.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

let server: NatsServer;
const opened: NatsConnection[] = [];
const open = async (options: { user?: string; pass?: string } = {}) => {
  const nc = await connect({ servers: server.url, ...options });
  opened.push(nc);
  return nc;
};
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

beforeAll(async () => {
  // One identity that may publish only on `ok.>` and receive replies only under `_INBOX_limited`.
  server = await startNatsServer({
    config: `authorization { users = [
      { user: free, password: free-pw }
      { user: limited, password: limited-pw, permissions: { publish: { allow: ["ok.>"] }, subscribe: { allow: ["_INBOX_limited.>"] } } }
    ] }`,
  });
});

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close()));
  await server?.stop();
});

describe("ReplyInbox", () => {
  it("hands each reply to its own request, with the reply's headers, when replies come back in another order", async () => {
    const responder = await open({ user: "free", pass: "free-pw" });
    const held: { reply: string; data: string; tag: string }[] = [];
    responder.subscribe("ok.echo", {
      callback: (_error, msg) => {
        held.push({ reply: msg.reply!, data: text(msg.data), tag: msg.headers?.get("Tag") ?? "" });
        // Answer all twenty at once, last first.
        if (held.length === 20) for (const h of held.reverse()) responder.publish(h.reply, bytes(`${h.data}/${h.tag}`));
      },
    });
    await responder.flush();
    const inbox = new ReplyInbox(await open({ user: "free", pass: "free-pw" }));
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const h = headers();
        h.set("Tag", `t${i}`);
        return inbox.request("ok.echo", bytes(`m${i}`), h, 5_000);
      }),
    );
    expect(replies.map((r) => text(r.data))).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}/t${i}`));
  });

  it("names each request's reply subject with a token of 96 random bits, never one a counter would give", async () => {
    // Reply subjects travel with the messages: a token that counted would let anyone who saw one name the next.
    const responder = await open({ user: "free", pass: "free-pw" });
    const replies: string[] = [];
    responder.subscribe("ok.tokens", { callback: (_error, msg) => (replies.push(msg.reply!), void msg.respond(bytes(""))) });
    await responder.flush();
    const inbox = new ReplyInbox(await open({ user: "free", pass: "free-pw" }));
    for (let i = 0; i < 1_000; i++) await inbox.request("ok.tokens", bytes(""), undefined, 5_000);
    const prefix = replies[0]!.slice(0, replies[0]!.lastIndexOf(".") + 1);
    const tokens = replies.map((reply) => reply.slice(prefix.length));
    expect(replies.every((reply) => reply.startsWith(prefix))).toBe(true);
    expect(tokens.every((token) => /^[A-Za-z0-9_-]{16}$/.test(token))).toBe(true);
    expect(new Set(tokens).size).toBe(tokens.length);
    // Every bit of the 96 varies across the tokens seen.
    const bits = tokens.map((token) => Buffer.from(token, "base64url"));
    for (let bit = 0; bit < 96; bit++) expect(new Set(bits.map((b) => (b[bit >> 3]! >> (bit & 7)) & 1)).size).toBe(2);
  });

  it("takes no message that asks for a reply as a reply: the server's answers never do", async () => {
    const responder = await open({ user: "free", pass: "free-pw" });
    responder.subscribe("ok.baited", {
      callback: (_error, msg) => {
        // Someone who saw the reply subject gets there first, with a message of its own.
        responder.publish(msg.reply!, bytes("forged"), { reply: "ok.anything" });
        void msg.respond(bytes("genuine"));
      },
    });
    await responder.flush();
    const inbox = new ReplyInbox(await open({ user: "free", pass: "free-pw" }));
    expect(text((await inbox.request("ok.baited", bytes("x"), undefined, 5_000)).data)).toBe("genuine");
  });

  it("times out a request no one answers, and ignores the answer that comes after", async () => {
    const responder = await open({ user: "free", pass: "free-pw" });
    let late: string | undefined;
    responder.subscribe("ok.slow", { callback: (_error, msg) => void setTimeout(() => (late = msg.reply!, responder.publish(msg.reply!, bytes("late"))), 300) });
    await responder.flush();
    const inbox = new ReplyInbox(await open({ user: "free", pass: "free-pw" }));
    await expect(inbox.request("ok.slow", bytes("x"), undefined, 100)).rejects.toThrow(/^timeout: no reply on ok\.slow within 100 ms$/);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(late).toBeDefined();
    // The inbox still works after a reply to nobody.
    responder.subscribe("ok.fast", { callback: (_error, msg) => void msg.respond(bytes("fast")) });
    await responder.flush();
    expect(text((await inbox.request("ok.fast", bytes("y"), undefined, 5_000)).data)).toBe("fast");
  });

  it("fails a request on a subject nothing listens on as having no responders", async () => {
    const inbox = new ReplyInbox(await open({ user: "free", pass: "free-pw" }));
    await expect(inbox.request("ok.nobody", bytes("x"), undefined, 5_000)).rejects.toThrow(/^no responders on ok\.nobody$/);
  });

  it("fails a request on a subject the identity may not publish on with the server's permissions violation, and only that request", async () => {
    const responder = await open({ user: "free", pass: "free-pw" });
    responder.subscribe("ok.echo2", { callback: (_error, msg) => void msg.respond(msg.data) });
    responder.subscribe("denied.echo", { callback: (_error, msg) => void msg.respond(msg.data) });
    await responder.flush();
    const inbox = new ReplyInbox(await open({ user: "limited", pass: "limited-pw" }), "_INBOX_limited");
    const [denied, allowed] = await Promise.allSettled([inbox.request("denied.echo", bytes("x"), undefined, 5_000), inbox.request("ok.echo2", bytes("y"), undefined, 5_000)]);
    expect(denied.status === "rejected" && String(denied.reason.message)).toMatch(/Permissions Violation for Publish to "denied\.echo"/);
    expect(allowed.status === "fulfilled" && text(allowed.value.data)).toBe("y");
  });

  it("blames the violation on the request to the refused subject, not on an older one still waiting", async () => {
    const responder = await open({ user: "free", pass: "free-pw" });
    responder.subscribe("ok.later", { callback: (_error, msg) => void setTimeout(() => msg.respond(msg.data), 300) });
    await responder.flush();
    const inbox = new ReplyInbox(await open({ user: "limited", pass: "limited-pw" }), "_INBOX_limited");
    // The allowed request is the oldest waiting when the server's violation for the other comes back.
    const allowed = inbox.request("ok.later", bytes("kept"), undefined, 5_000);
    const denied = inbox.request("denied.later", bytes("x"), undefined, 5_000);
    const [deniedOutcome, allowedOutcome] = await Promise.allSettled([denied, allowed]);
    expect(deniedOutcome.status === "rejected" && String(deniedOutcome.reason.message)).toMatch(/Permissions Violation for Publish to "denied\.later"/);
    expect(allowedOutcome.status === "fulfilled" && text(allowedOutcome.value.data)).toBe("kept");
  });

  it("fails what waits when the server refuses the inbox's subscription, and tries again on the next request", async () => {
    const responder = await open({ user: "free", pass: "free-pw" });
    responder.subscribe("ok.echo3", { callback: (_error, msg) => void msg.respond(msg.data) });
    await responder.flush();
    // Not the identity's inbox prefix: the server refuses the subscription.
    const inbox = new ReplyInbox(await open({ user: "limited", pass: "limited-pw" }));
    await expect(inbox.request("ok.echo3", bytes("x"), undefined, 5_000)).rejects.toThrow(/Permissions Violation for Subscription to "_INBOX\.[^"]+\.\*"/);
    await expect(inbox.request("ok.echo3", bytes("x"), undefined, 5_000)).rejects.toThrow(/Permissions Violation for Subscription/);
  });

  it("fails what waits when the connection closes, and refuses requests after", async () => {
    const nc = await open({ user: "free", pass: "free-pw" });
    const responder = await open({ user: "free", pass: "free-pw" });
    responder.subscribe("ok.never", { callback: () => undefined });
    await responder.flush();
    const inbox = new ReplyInbox(nc);
    const waiting = inbox.request("ok.never", bytes("x"), undefined, 60_000);
    await nc.flush();
    await nc.close();
    await expect(waiting).rejects.toThrow(/^connection closed$/);
    await expect(inbox.request("ok.never", bytes("x"), undefined, 60_000)).rejects.toThrow(/^connection closed$/);
  });
});
