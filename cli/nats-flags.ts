/** The flags and connection every command that talks to NATS shares. */
import { Flags } from "@oclif/core";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ErrorCode, OnexError } from "@onex/runtime";

export const natsFlags = {
  server: Flags.string({ description: "NATS server URL.", env: "NATS_URL", default: "nats://127.0.0.1:4222" }),
  user: Flags.string({ description: "NATS user.", env: "NATS_USER" }),
  password: Flags.string({ description: "NATS password.", env: "NATS_PASSWORD" }),
};

type NatsFlags = { server: string; user?: string; password?: string };

/** Connects with the command's NATS flags, runs `fn`, and closes the connection. */
export async function withNats<T>(flags: NatsFlags, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: flags.server, ...(flags.user ? { user: flags.user, pass: flags.password } : {}), timeout: 5_000 });
  } catch (error) {
    throw new OnexError(ErrorCode.ConnectionFailed, `cannot connect to ${flags.server}: ${(error as Error).message}`, { server: flags.server }, { cause: error });
  }
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

/** Connects, runs `fn` with the JetStream client and manager, and closes the connection. */
export function withJetStream<T>(flags: NatsFlags, fn: (js: JetStreamClient, jsm: JetStreamManager) => Promise<T>): Promise<T> {
  return withNats(flags, async (nc) => fn(jetstream(nc), await jetstreamManager(nc)));
}

