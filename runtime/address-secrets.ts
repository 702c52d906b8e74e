/**
 * Passwords and tokens in server addresses and registry URLs (`nats://user:pass@host`,
 * `consul://host:8500?token=…`), kept out of what onex says. An error quoting an address goes
 * to service logs, terminals others watch and CI output, so the runtime's own errors about an
 * address never hold its secrets, whoever catches them: the CLI and a service alike.
 */
import { inspect } from "node:util";
import { OnexError } from "./errors.js";

/** What stands in for a secret. */
const HIDDEN = "***";
/** The shortest piece of a secret hidden on its own (see addressSecrets). */
const MIN_PIECE = 3;

/**
 * The secrets `addresses` hold: each address's password (or its user name alone, which NATS takes
 * as a token), up to the address's last `@`, since a password may hold one of its own; and each
 * `token=`, `password=` or `pass=` value. As written, percent-decoded and escaped, longest
 * first, so a secret that holds another is hidden whole.
 *
 * A secret written with a character a URL's host part ends at (`/`, `?`, `#`; a base64 token
 * holds `/`) or with a space is a secret all the same: a parser that stops there quotes a piece
 * of it as the host ("user:pa" of `user:pa/ss@host`), so those pieces are secrets too; those
 * of three characters or more, as hiding every "a" or "pa" of a message would leave nothing to read.
 * So is one written with a comma, where a list of addresses splits (see listedFrom).
 */
export function addressSecrets(addresses: string | readonly string[]): string[] {
  const list = typeof addresses === "string" ? [addresses] : Array.isArray(addresses) ? addresses.filter((a): a is string => typeof a === "string") : [];
  const found: string[] = [];
  for (const address of list) {
    // A comma separates addresses (NATS_URL, a registry's hosts). No regex that can backtrack: an address may be long.
    const items = address.split(",");
    items.forEach((item, i) => {
      const at = item.lastIndexOf("@");
      if (at < 0) return;
      found.push(...userinfoSecrets(item.slice(0, at)));
      const start = listedFrom(items, i);
      if (start < i) found.push(...userinfoSecrets([...items.slice(start, i), item.slice(0, at)].join(",")));
    });
    for (const [, value] of address.matchAll(/[?&](?:token|password|pass)=([^&#]*)/gi)) {
      found.push(value!);
      for (const piece of value!.split(/[,\s]/)) if (piece.length >= MIN_PIECE) found.push(piece);
    }
  }
  const decoded = found.map(percentDecoded);
  // As JSON and util.inspect escape them too (a quote, a backslash, a control character): an
  // error may quote a list as JSON, and a cause's own fields are found in what inspect prints.
  const escaped = [...found, ...decoded].flatMap((secret) => [JSON.stringify(secret).slice(1, -1), inspect(secret).slice(1, -1)]);
  return [...new Set([...found, ...decoded, ...escaped])].filter((secret) => secret !== "").sort((a, b) => b.length - a.length);
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The password of one user info (or its token), and its pieces a parser may quote alone. */
function userinfoSecrets(text: string): string[] {
  const userinfo = text.trimStart().replace(SCHEME, "");
  const secret = userinfo.includes(":") ? userinfo.slice(userinfo.indexOf(":") + 1) : userinfo;
  return [secret, ...secret.split(/[/?#\s,]/).filter((piece) => piece.length >= MIN_PIECE)];
}

/**
 * Where the user info of `items[i]` may start when a password holds a comma (or a comma and an
 * `@`): `nats://u:pass,word@h` is one address to a reader that takes the URL whole (a registry
 * URL) and two to one that splits the list first (NATS_URL), which quotes `nats://u:pass` as an
 * address of its own. Back to the nearest item with a scheme, or to the list's start when none
 * has one. Hiding a port of a list such as `h1:4222,u:p@h2` too is the price of never saying a
 * password.
 */
function listedFrom(items: readonly string[], i: number): number {
  let start = i;
  while (start > 0 && !SCHEME.test(items[start]!.trimStart())) start--;
  return start;
}

/** A URL component percent-decoded, or as written where it is no valid encoding. */
export function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The credentials an address's user info (what comes before its last `@`) names, as NATS and
 * etcd read them: `user:pass`, split at the first `:`, or a token alone; percent-decoded. An
 * empty user or token is undefined: nats.js sends no credentials for one, and a server with a
 * default user (`no_auth_user`) let the client in as that user.
 */
export function userinfoCredentials(userinfo: string): { user: string; pass: string } | { token: string } | undefined {
  const colon = userinfo.indexOf(":");
  const credentials = colon < 0 ? { token: percentDecoded(userinfo) } : { user: percentDecoded(userinfo.slice(0, colon)), pass: percentDecoded(userinfo.slice(colon + 1)) };
  return ("token" in credentials ? credentials.token : credentials.user) === "" ? undefined : credentials;
}

/**
 * `text` with every occurrence of each of `secrets` replaced by `***` (overlapping or adjacent
 * ones by one). Each is found in `text` as given: hiding one secret before looking for the next
 * cut an overlapping one, and said its rest (`token=a@b`: a user info up to that `@` hidden
 * first, then no `a@b` left to find, and `b` shown).
 */
export function hideSecrets(text: string, secrets: readonly string[]): string {
  const hidden = new Uint8Array(text.length);
  for (const secret of secrets) {
    if (secret === "") continue;
    for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) hidden.fill(1, at, at + secret.length);
  }
  let shown = "";
  for (let i = 0; i < text.length; ) {
    let end = i;
    while (end < text.length && hidden[end] === hidden[i]) end++;
    shown += hidden[i] ? HIDDEN : text.slice(i, end);
    i = end;
  }
  return shown;
}

/** An address (or a comma-separated list) with its passwords and tokens replaced by `***`. */
export function redactedAddress(address: string): string {
  return hideSecrets(address, addressSecrets(address));
}

/**
 * `error` with none of `secrets` in its message, its string details or its cause. The cause is
 * kept when it says none of them (anywhere `util.inspect` reaches: its message, stack, own fields
 * such as a URL error's `input`, its own causes); otherwise it is replaced by an Error of the same
 * name with the secrets hidden from its message, since a logger may print it whole.
 */
export function withoutSecrets(error: OnexError, secrets: readonly string[]): OnexError {
  if (secrets.length === 0) return error;
  const says = (value: string) => secrets.some((secret) => value.includes(secret));
  const cause = error.cause;
  const causeSays = cause !== undefined && says(inspect(cause, { depth: 8 }));
  const hide = (value: unknown): unknown => (typeof value === "string" ? hideSecrets(value, secrets) : Array.isArray(value) ? value.map(hide) : value);
  const details = Object.fromEntries(Object.entries(error.details).map(([name, value]) => [name, hide(value)]));
  if (!says(error.message) && !causeSays && JSON.stringify(details) === JSON.stringify(error.details)) return error;
  const cleanCause = causeSays ? Object.assign(new Error(hideSecrets(String((cause as Error)?.message ?? cause), secrets)), { name: (cause as Error)?.name ?? "Error" }) : cause;
  return new OnexError(error.code, hideSecrets(error.message, secrets), details, cleanCause === undefined ? undefined : { cause: cleanCause });
}
