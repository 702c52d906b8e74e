import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Flags } from "@oclif/core";
import { ErrorCode, OnexError, assertZoneId } from "@onex/runtime";
import { issueSessionGrant } from "@onex/runtime";
import { OnexCommand } from "../../base-command.js";
import { parseDuration } from "../../duration.js";
import { parseTime, privateKeyFlags, readPrivateKey } from "../../key-files.js";
import { writeOutputFile } from "../../output-file.js";
import { printable } from "../../terminal-text.js";
import { didYouMean } from "../../../generator/did-you-mean.js";
import { requireVersionsIn } from "../../../generator/protocol-versions.js";
import { sameFile } from "../../same-file.js";
import { schemasDirOf } from "../../sdk.js";
import { schemasFlag } from "../../sdk-flags.js";
import { utf8Text } from "../../../generator/input-hashes.js";

export default class GrantIssue extends OnexCommand {
  static override summary = "Issue a signed session grant as a zone authority.";
  static override description =
    "Signs a SessionGrant that lets --subject (a node or agent id, or a key id) send the given message types in the given zones from --not-before (default now) until --expires-at or for --expires-in. Every --type must be a message type of a version of the schemas (--schemas), or * (or pass --allow-unknown-type). Prints the grant as JSON, or writes it to --out. An authority speaks for one zone: the grant counts only in --zone, and --in-zone can only repeat it (or be *).";
  static override examples = [
    "<%= config.bin %> grant issue --key zone-ca.key --subject node-3f2a... --zone zone.trusted.org --type signal.task.dispatch --type signal.result.ready --expires-in 12h",
    "<%= config.bin %> grant issue --key zone-ca.key --subject key-9c1e... --zone zone.trusted.org --type '*' --expires-at 2027-01-01T00:00:00Z --out grant.json",
  ];

  static override flags = {
    key: Flags.string({ description: "The zone authority's private key file.", required: true }),
    subject: Flags.string({ description: "Node or agent id (or key id) the grant is for.", required: true }),
    zone: Flags.string({ description: "The zone the authority speaks for.", required: true }),
    type: Flags.string({ description: "A message type the subject may send; * for all (repeatable).", required: true, multiple: true }),
    "in-zone": Flags.string({ description: "A zone the subject may send in: --zone (the default) or *; an authority cannot grant rights in another zone.", multiple: true }),
    "not-before": Flags.string({ description: "Start of validity (RFC 3339); default now." }),
    "expires-at": Flags.string({ description: "End of validity (RFC 3339).", exclusive: ["expires-in"] }),
    "expires-in": Flags.string({ description: "Validity from --not-before, as 90s, 15m, 12h or 30d.", exclusive: ["expires-at"] }),
    id: Flags.string({ description: "Grant id; default a fresh UUID. A renewal under an id already issued is held beside the earlier grants, each counting in its own window (it narrows none of them: revoke, then issue under a new id); a revocation of the id revokes them all." }),
    out: Flags.string({ description: "Write the grant to this file instead of stdout." }),
    force: Flags.boolean({ description: "Replace --out if it exists.", default: false }),
    ...privateKeyFlags,
    schemas: schemasFlag,
    "allow-unknown-type": Flags.boolean({ description: "Issue the grant for types no version of the schemas has (yet).", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(GrantIssue);
    assertZoneId(flags.zone, "--zone");
    for (const zone of flags["in-zone"] ?? []) if (zone !== "*") assertZoneId(zone, "--in-zone");
    // Even with --force: the authority's key replaced by a grant is every future grant of the zone lost.
    if (flags.out !== undefined && sameFile(flags.out, flags.key)) {
      throw new OnexError(ErrorCode.Usage, `--out names the authority's key file (${flags.key}); the key would be lost: write the grant to another file`, { file: flags.out });
    }
    const authority = readPrivateKey(flags.key, { allowUnprotected: flags["allow-unprotected-key"] });
    const notBefore = flags["not-before"] === undefined ? Date.now() : parseTime(flags["not-before"], "not-before");
    let expiresAt: number;
    if (flags["expires-at"] !== undefined) expiresAt = parseTime(flags["expires-at"], "expires-at");
    else if (flags["expires-in"] !== undefined) expiresAt = notBefore + parseDuration(flags["expires-in"], "expires-in", { min: 1 });
    else throw new OnexError(ErrorCode.Usage, "a grant needs --expires-at or --expires-in");
    if (!flags["allow-unknown-type"]) await assertKnownTypes(flags.type, schemasDirOf(flags.schemas));
    const grant = issueSessionGrant(authority, {
      subject: flags.subject,
      zone: flags.zone,
      messageTypes: flags.type,
      ...(flags["in-zone"] === undefined ? {} : { zones: flags["in-zone"] }),
      notBefore,
      expiresAt,
      ...(flags.id === undefined ? {} : { grantId: flags.id }),
    });
    const text = JSON.stringify(grant, null, 2);
    if (flags.out === undefined) this.log(text);
    else writeOutputFile(flags.out, text + "\n", { force: flags.force });
    this.logToStderr(printable(`grant ${grant.grant_id} for ${grant.subject}, valid ${grant.not_before} to ${grant.expires_at}, signed by ${authority.keyId}`));
  }
}

/**
 * A misspelt type would grant nothing, and the subject's messages would be refused for a reason
 * nobody sees at issue time. The types are read from the manifests, so no generated SDK is needed.
 */
async function assertKnownTypes(types: string[], schemasDir: string): Promise<void> {
  const named = types.filter((type) => type !== "*");
  if (named.length === 0) return;
  const { parse } = await import("yaml");
  const known = new Set<string>();
  const hint = "name your protocol's schemas with --schemas, or issue it anyway with --allow-unknown-type";
  const versions = await requireVersionsIn(schemasDir).catch((error: unknown) => {
    throw error instanceof OnexError ? new OnexError(error.code, `${error.message}; ${hint}`, error.details, { cause: error }) : error;
  });
  for (const version of versions) {
    const file = join(schemasDir, `v${version}`, "manifest.yaml");
    let manifest: { messages?: { type?: unknown }[] } | null;
    try {
      // Strictly UTF-8, as generate reads it: a Latin-1 type name would be another name here.
      manifest = parse(utf8Text(await readFile(file), file, ErrorCode.YamlSyntax)) as typeof manifest;
    } catch (cause) {
      throw new OnexError(ErrorCode.YamlSyntax, `${file} cannot be read as a manifest (${(cause as Error).message.split("\n")[0]}); ${hint}`, { file }, { cause });
    }
    for (const message of Array.isArray(manifest?.messages) ? manifest.messages : []) if (typeof message?.type === "string") known.add(message.type);
  }
  const unknown = named.filter((type) => !known.has(type));
  if (unknown.length === 0) return;
  const each = unknown.map((type) => `"${type}"${didYouMean(type, known)}`).join(", ");
  throw new OnexError(ErrorCode.Usage, `no version of ${schemasDir} has the message type${unknown.length === 1 ? "" : "s"} ${each}; ${hint}`, { types: unknown });
}
