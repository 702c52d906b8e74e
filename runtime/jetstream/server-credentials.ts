/**
 * Credentials written into server addresses (`nats://user:pass@host:4222`, `nats://token@host`),
 * taken as the NATS CLI and the Go client take them. nats.js reads none from an address: it
 * connected without them, so a server that requires them refused with "Authorization Violation",
 * and a server with a default user (`no_auth_user`) let the client in as that user, with that
 * user's permissions, while the caller believed it was someone else. The credentials are taken
 * out of the addresses here and handed to nats.js as its user and password, or token.
 */
import { redactedAddress, userinfoCredentials } from "../address-secrets.js";
import { ErrorCode, OnexError } from "../errors.js";

/** Credentials as nats.js takes them. */
export interface Credentials {
  user?: string;
  pass?: string;
  token?: string;
}

/** The addresses without their credentials, and the one set of credentials to connect with. */
export interface ServerCredentials extends Credentials {
  servers: string[];
}

/**
 * Splits each address's user info (up to its last `@` before the path: a password may hold an
 * `@` of its own; percent-decoded) from the address. A comma-separated string is a list, as
 * NATS_URL is. One connection has one set of credentials: addresses naming different ones, or
 * naming other ones than `given` (the user, password and token options), are ONEX_E_USAGE.
 */
export function serverCredentials(servers: string | readonly string[], given: Credentials = {}): ServerCredentials {
  const list = (typeof servers === "string" ? [servers] : [...servers]).flatMap((server) => server.split(","));
  const stripped: string[] = [];
  let found: (Credentials & { from: string }) | undefined;
  for (const server of list) {
    const match = /^((?:[a-z][a-z0-9+.-]*:\/\/)?)([^/]*)@([^@/]*(?:\/.*)?)$/i.exec(server.trim());
    if (match === null) {
      stripped.push(server.trim());
      continue;
    }
    const [, scheme, userinfo, rest] = match as unknown as [string, string, string, string];
    stripped.push(scheme + rest);
    const credentials: Credentials | undefined = userinfoCredentials(userinfo);
    if (credentials === undefined) {
      throw usage(`the address ${redactedAddress(server)} names an empty ${userinfo.includes(":") ? "user" : "token"}, which would connect with no credentials: write nats://user:pass@host, or nats://token@host`, servers);
    }
    if (found !== undefined && !same(found, credentials)) {
      throw usage(`the addresses ${redactedAddress(found.from)} and ${redactedAddress(server)} name different credentials; a connection has one set: write them in one address, or give them as the user and password (or token)`, servers);
    }
    found = { ...credentials, from: server };
  }
  if (found === undefined) return { servers: stripped, user: given.user, pass: given.pass, token: given.token };
  const { from, ...inAddress } = found;
  const givenAny = given.user !== undefined || given.pass !== undefined || given.token !== undefined;
  if (givenAny && !same(given, inAddress)) {
    throw usage(`the address ${redactedAddress(from)} names other credentials than the user and password (or token) given beside it; give them one way`, servers);
  }
  return { servers: stripped, ...inAddress };
}

function same(a: Credentials, b: Credentials): boolean {
  return a.user === b.user && a.pass === b.pass && a.token === b.token;
}

function usage(message: string, servers: string | readonly string[]): OnexError {
  return new OnexError(ErrorCode.Usage, message, { servers: (typeof servers === "string" ? [servers] : [...servers]).map((server) => redactedAddress(server)) });
}
