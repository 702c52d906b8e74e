/**
 * Zone isolation on the wire: a NATS server config with one account per zone, holding its
 * JetStream and its admins, and one for the zone's members, confined to the zone.
 *
 * The account is the boundary. NATS checks the subject a client publishes on but never the
 * reply subject it names, and JetStream sends its acknowledgements and pulled messages to
 * that reply subject with its own authority — so within one account a member could aim them
 * at any subject or JetStream API of every zone. Across accounts it cannot: subjects, streams
 * and replies of one account are invisible to another, and what crosses an import's reply
 * mapping returns to the account that asked.
 *
 * A member may publish its zone's subjects and subscribe to them, use the JetStream API on its
 * zone's event streams only (consumers, pulls, acks, stream info), write dead letters under
 * its zone's prefix only, and receive replies under its own inbox prefix only. A zone's admin
 * is unrestricted within the zone's account, but for the account's limits on connections and
 * subscriptions.
 */
import { ErrorCode, OnexError } from "../errors.js";
import type { ProtocolSdk } from "../protocol-sdk.js";
import { checkWhole } from "../option-check.js";
import { encodeSubjectToken } from "../subject-token.js";
import { assertZoneId } from "../zone-id.js";
import { DEAD_LETTER_STREAM, UNSCOPED_LETTER_ZONE, hasZonePart, zoneFilterOf, zoneStreamNameOf } from "./streams.js";
import { applyStreamsInCode } from "./apply-advice.js";

/** One identity allowed on the NATS server. */
export interface AuthIdentity {
  /** NATS user name; also names the identity's reply prefix. */
  user: string;
  /** Password, or a bcrypt hash of it (`$2a$...`), as NATS accepts. */
  password: string;
  /** The zone whose account the identity belongs to. */
  zone: string;
  /** `admin` may do everything in its zone's account (streams apply, dlq); `member` (default) is confined to its zone's subjects and streams. */
  role?: "admin" | "member";
}

/** The reply-subject prefix an identity must connect with (`inboxPrefix`). */
export function inboxPrefixOf(user: string): string {
  return `_INBOX_${encodeSubjectToken(user, "user")}`;
}

/** The zones of the identities, each one NATS account. */
export function zonesOf(identities: readonly AuthIdentity[]): string[] {
  return [...new Set(identities.map((i) => i.zone))].sort();
}

/** The NATS account of a zone. */
export function accountOf(zone: string): string {
  return `ONEX_ZONE_${encodeSubjectToken(zone, "zone")}`;
}

/** The publish and subscribe permissions of one zone member. */
export function zonePermissions(sdks: readonly ProtocolSdk[], identity: AuthIdentity): { publish: string[]; subscribe: string[] } {
  const { publish, zoneSubjects } = memberSubjects(sdks, identity.zone);
  const inbox = `${inboxPrefixOf(identity.user)}.>`;
  return { publish, subscribe: [...zoneSubjects, inbox].sort() };
}

/** What every member of `zone` may publish on, and its zone's subjects. */
function memberSubjects(sdks: readonly ProtocolSdk[], zone: string): { publish: string[]; zoneSubjects: string[] } {
  const zoneSubjects = new Set<string>();
  const zoneStreams = new Set<string>();
  for (const sdk of sdks) {
    for (const [key, template] of Object.entries(sdk.subjectTemplates)) {
      if (!hasZonePart(template)) continue;
      // The template with the zone fixed and every other part a wildcard: all of the zone, nothing else.
      zoneSubjects.add(zoneFilterOf(template, zone));
      zoneStreams.add(zoneStreamNameOf(key, zone));
    }
  }
  // Every JetStream API subject a subscription uses, on the zone's own streams only (not
  // `$JS.API.INFO`: account-wide counters would show other zones' activity). MSG.GET reads one
  // stored message, which a consumer would deliver too: `publish` checks a duplicate receipt
  // with it, and needs no consumer, of which a member may have made the last allowed.
  // Consumers are made as durables only (DURABLE.CREATE), never through `CONSUMER.CREATE`, the
  // subject of ephemeral ones: a push consumer delivers only while a client subscribes to its
  // subject, but nats-server 2.9 (and its source to this day) recovers an ephemeral one after a
  // restart with a check that counts a stream's capture of the subject as a listener. A member's
  // ephemeral push consumer aimed at the admins' dead letters, the registry's buckets or another
  // stream of its zone then delivered there for good, stored under headers of the member's
  // choosing (and two of them, between two streams, copied each other's messages without end).
  // A durable's listeners are subscriptions to exactly its subject, through restarts too (a
  // stream's to a wildcard is none: docs/security.md, Known limits); a consumer meant to be
  // temporary is a durable with an inactivity threshold (durable-consumer.ts).
  const api = [...zoneStreams].flatMap((s) => [
    `$JS.API.STREAM.INFO.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${s}.*`,
    `$JS.API.CONSUMER.INFO.${s}.*`,
    `$JS.API.CONSUMER.DELETE.${s}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
    `$JS.ACK.${s}.>`,
  ]);
  const letters = `onex.dlq.${encodeSubjectToken(zone, "zone")}.>`;
  return { publish: [...zoneSubjects, ...api, letters].sort(), zoneSubjects: [...zoneSubjects] };
}

/** Limits of each zone's account. */
export interface ZoneAccountLimits {
  /** JetStream file storage a zone may use at most, in bytes: one zone filling its own cannot take another's. */
  maxFileBytes?: number;
  /** Consumers each of a zone's streams may have at most (default DEFAULT_ZONE_CONSUMERS): their state is not counted as storage. */
  maxConsumers?: number;
  /** Connections a zone's members may hold at once, all of them together (default DEFAULT_ZONE_CONNECTIONS). */
  maxConnections?: number;
  /** Core subscriptions each connection of a zone's members may hold (default DEFAULT_ZONE_SUBSCRIPTIONS). */
  maxSubscriptions?: number;
  /** Connections a zone's admins may hold at once, all of them together (default DEFAULT_ZONE_ADMIN_CONNECTIONS). */
  maxAdminConnections?: number;
  /** Core subscriptions each connection of a zone's admins may hold (default DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS). */
  maxAdminSubscriptions?: number;
}

/**
 * Consumers each stream of a zone's account may hold by default (nats-server applies an
 * account's `max_consumers` to each of its streams; a member may make consumers only on its
 * zone's event streams). Each costs the server memory and disk that no storage limit counts
 * (~44 KB of memory each on nats-server 2.9), so a member creating them without end would
 * exhaust what every zone shares. A subscription uses one.
 */
export const DEFAULT_ZONE_CONSUMERS = 1000;

/**
 * Connections a zone's members may hold by default, all together. The server's own
 * `max_connections` counts every zone's: without a limit per zone, one member opening
 * connections without end (a thousand took two seconds) left no other zone a connection.
 */
export const DEFAULT_ZONE_CONNECTIONS = 1000;

/**
 * Core subscriptions each connection of a zone's members may hold by default (nats-server
 * applies an account's `max_subs` per connection). Each costs the server memory no JetStream
 * limit counts: 500,000 on distinct subjects of one zone took a test server from 11 to 629 MB.
 * A client uses one per subscription it runs and a few of its own.
 */
export const DEFAULT_ZONE_SUBSCRIPTIONS = 1000;

/**
 * Connections a zone's admins may hold by default, all together, in the zone's account. Admins
 * are trusted, but an admin identity handed to a tenant (or leaked) opening connections without
 * end would take the server's `max_connections` from every zone, as a member could before its
 * limit. Apart from the members' limit: a zone's admins are its operators' tools and registry
 * clients, whose number has nothing to do with how many services its tenant runs.
 */
export const DEFAULT_ZONE_ADMIN_CONNECTIONS = 1000;

/** Core subscriptions each connection of a zone's admins may hold by default (as DEFAULT_ZONE_SUBSCRIPTIONS for members). */
export const DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS = 1000;

/**
 * The NATS account of a zone's members: no JetStream of its own, only imports of its zone's.
 * Joined with `~M`, which no zone's token holds (a token's `~` is followed by two hex digits):
 * with `_MEMBERS`, the zone `zone.a_MEMBERS` had this account's name for its own, and
 * nats-server, given two accounts of one name, kept the last, leaving zone.a's members none.
 * (Such a zone is refused now as well, being no zone a message can name; the `~M` stays, so no
 * later change to that rule can bring the clash back.)
 */
export function membersAccountOf(zone: string): string {
  return `${accountOf(zone)}~MEMBERS`;
}

/**
 * The `accounts { ... }` block for a NATS server config: two accounts per zone. The zone's
 * account (`accountOf`) holds its JetStream and its admins; its members are in an account of
 * their own, which reaches the zone's subjects, streams and dead letters only through service
 * imports. Everything a member publishes there crosses into the zone's account as a request,
 * and whatever JetStream sends back to a reply subject the member named (an acknowledgement, a
 * pulled message) returns through the import's reply mapping, to the member's account: it is
 * never stored again. In one shared account a member could name one of its zone's stream
 * subjects as the reply subject of a pull, and each delivered message was stored again and
 * delivered again by every consumer, until the server ran out of memory (docs/security.md).
 */
export function natsAccountsConfig(sdks: readonly ProtocolSdk[], identities: readonly AuthIdentity[], limits: ZoneAccountLimits = {}): string {
  assertServableIdentities(identities);
  const maxConsumers = limits.maxConsumers ?? DEFAULT_ZONE_CONSUMERS;
  if (!Number.isSafeInteger(maxConsumers) || maxConsumers < 1) throw new OnexError(ErrorCode.Usage, `a zone's consumer limit must be a whole number of at least 1, not ${maxConsumers}`);
  const maxConnections = limits.maxConnections ?? DEFAULT_ZONE_CONNECTIONS;
  const maxSubscriptions = limits.maxSubscriptions ?? DEFAULT_ZONE_SUBSCRIPTIONS;
  const maxAdminConnections = limits.maxAdminConnections ?? DEFAULT_ZONE_ADMIN_CONNECTIONS;
  const maxAdminSubscriptions = limits.maxAdminSubscriptions ?? DEFAULT_ZONE_ADMIN_SUBSCRIPTIONS;
  const checked = [
    ["connection", maxConnections],
    ["subscription", maxSubscriptions],
    ["admin connection", maxAdminConnections],
    ["admin subscription", maxAdminSubscriptions],
  ] as const;
  for (const [what, value] of checked) {
    if (!Number.isSafeInteger(value) || value < 1) throw new OnexError(ErrorCode.Usage, `a zone's ${what} limit must be a whole number of at least 1, not ${value}`);
  }
  // nats-server refuses a config with a size past a 64-bit integer or in exponent form (1e+23).
  checkWhole("natsAccountsConfig", "maxFileBytes", limits.maxFileBytes);
  const storage = limits.maxFileBytes !== undefined ? `max_file: ${limits.maxFileBytes}, max_mem: 0, ` : "";
  const jetstream = `{ ${storage}max_consumers: ${maxConsumers} }`;
  const list = (subjects: string[]) => `[${subjects.map(natsConfigString).join(", ")}]`;
  const userLine = (identity: AuthIdentity) => {
    const head = `      { user: ${natsConfigString(identity.user)}, password: ${natsConfigString(identity.password)}`;
    if (identity.role === "admin") return `${head} }`;
    const p = zonePermissions(sdks, identity);
    return `${head},\n        permissions: {\n          publish: { allow: ${list(p.publish)} },\n          subscribe: { allow: ${list(p.subscribe)} }\n        }\n      }`;
  };
  const accounts = zonesOf(identities).flatMap((zone) => {
    const admins = identities.filter((i) => i.zone === zone && i.role === "admin").map(userLine);
    const members = identities.filter((i) => i.zone === zone && i.role !== "admin");
    const zoneAccount = [`  ${natsConfigString(accountOf(zone))}: {`, `    # zone ${natsConfigString(zone)}: its streams and admins`, `    jetstream: ${jetstream}`, `    limits: { max_conn: ${maxAdminConnections}, max_subs: ${maxAdminSubscriptions} }`, admins.length === 0 ? "    users: []" : `    users: [\n${admins.join(",\n")}\n    ]`];
    if (members.length === 0) return [[...zoneAccount, "  }"].join("\n")];
    const services = memberServices(sdks, zone);
    const to = natsConfigString(membersAccountOf(zone));
    const exports = services.map(({ subject, stream }) => `      { service: ${natsConfigString(subject)}, accounts: [${to}]${stream ? `, response_type: stream, response_threshold: "${API_RESPONSE_THRESHOLD}"` : ""} }`);
    const imports = services.map(({ subject }) => `      { service: { account: ${natsConfigString(accountOf(zone))}, subject: ${natsConfigString(subject)} } }`);
    return [
      [...zoneAccount, `    exports: [\n${exports.join(",\n")}\n    ]`, "  }"].join("\n"),
      [`  ${to}: {`, `    # zone ${natsConfigString(zone)}: its members, who reach its streams only through these imports`, `    limits: { max_conn: ${maxConnections}, max_subs: ${maxSubscriptions} }`, `    users: [\n${members.map(userLine).join(",\n")}\n    ]`, `    imports: [\n${imports.join(",\n")}\n    ]`, "  }"].join("\n"),
    ];
  });
  return [
    "# Generated by `onex nats-auth`: per zone, an account with its JetStream and admins, and one for its members, confined to the zone.",
    `# Create each zone's streams with \`onex streams apply --identities\` (it connects as each zone's admin; in code: ${applyStreamsInCode(", limits, deadLetterLimits, [zone]")}, connected as the zone's admin).`,
    `# Dead letters go under onex.dlq.<zone>.> (${DEAD_LETTER_STREAM}~<zone>), onex.dlq.${UNSCOPED_LETTER_ZONE}.> for admins (${DEAD_LETTER_STREAM}); only admins may read them.`,
    "accounts {",
    accounts.join("\n"),
    "}",
    "",
  ].join("\n");
}

/**
 * Refuses identities nats-server would refuse (an empty user name, one user name twice in the
 * config, whatever accounts they are in) or let in without a password: a user whose password
 * is empty connects with none at all, and with no user at all every client does; and a name
 * or password with a lone UTF-16 surrogate, which a config file cannot hold (written as UTF-8
 * it became U+FFFD, another password); and a zone no message can name (`Zone.A`, `zone_a`),
 * whose accounts and streams would serve nothing: the operator's mistake, said before any
 * config is written. ONEX_E_USAGE.
 */
export function assertServableIdentities(identities: readonly AuthIdentity[]): void {
  // A config of accounts with no user in them: nats-server then lets every client in, with no credentials at all.
  if (identities.length === 0) throw new OnexError(ErrorCode.Usage, "no identities: a server configured with no users runs without authentication");
  const users = new Set<string>();
  for (const [index, { user, password, zone }] of identities.entries()) {
    assertZoneId(zone, `identity ${index + 1}${typeof user === "string" && user !== "" && !LONE_SURROGATE.test(user) ? ` (user ${JSON.stringify(user)})` : ""}`);
    if (user === "") throw new OnexError(ErrorCode.Usage, `identity ${index + 1} has an empty user name, which nats-server refuses`, { index });
    if (LONE_SURROGATE.test(user)) throw new OnexError(ErrorCode.Usage, `identity ${index + 1} has a user name that is no text (a lone UTF-16 surrogate), which no config file can hold`, { index });
    if (LONE_SURROGATE.test(password)) throw new OnexError(ErrorCode.Usage, `user ${JSON.stringify(user)} has a password that is no text (a lone UTF-16 surrogate), which no config file can hold`, { user });
    if (password === "") throw new OnexError(ErrorCode.Usage, `user ${JSON.stringify(user)} has an empty password: nats-server would let anyone connect as it without one`, { user });
    if (users.has(user)) throw new OnexError(ErrorCode.Usage, `user ${JSON.stringify(user)} is listed twice: a user name is one identity on the server, which refuses the config otherwise`, { user });
    users.add(user);
  }
}

/** With the `u` flag a surrogate pair is one character, so this matches only a half without its other. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * `value` as a quoted string of a nats-server config, which reads it back as the same text. The
 * server's parser takes only \xXX, \t, \n, \r, \" and \\ as escapes: JSON's \u0001, \b and \f
 * (what JSON.stringify writes for control characters) made it refuse the whole config, so one
 * identity's password stopped every zone's server. `$` inside quotes is not a variable there.
 */
function natsConfigString(value: string): string {
  return `"${value.replace(/[\u0000-\u001f\u007f\x22\\]/g, (c) => (c === '"' || c === "\\" ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`))}"`;
}

/**
 * How long the zone's account keeps the reply mapping of a member's JetStream API request
 * open after its last answer. A pull is answered with many messages, so its mapping cannot end
 * at the first (as a publish's does), and a member sending requests without end would make
 * the server hold one mapping per request for this long: long enough for a subscription's
 * pull (1 s) and a history read's (2.5 s, stored-reader.ts), short enough that a flood holds
 * little. What a longer pull is sent after it goes nowhere.
 */
const API_RESPONSE_THRESHOLD = "3s";

/**
 * What a zone's members reach in the zone's account: the subjects their permissions allow them
 * to publish on (their zone's subjects, dead letters and acknowledgements), and the JetStream
 * API as a whole, of which their permissions allow only what a subscription uses on their
 * zone's streams. As a whole because the server answers any API subject an account without
 * JetStream has not imported with "JetStream not enabled", and that answer raced the import's.
 * The API's answers may be many (a pull), the others one (a stream response keeps its reply
 * mapping for minutes, which one per publish would pile up).
 */
function memberServices(sdks: readonly ProtocolSdk[], zone: string): { subject: string; stream: boolean }[] {
  const { publish } = memberSubjects(sdks, zone);
  return [{ subject: "$JS.API.>", stream: true }, ...publish.filter((subject) => !subject.startsWith("$JS.API.")).map((subject) => ({ subject, stream: false }))];
}
