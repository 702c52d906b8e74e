import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError, assertZoneId } from "@onex/runtime";
import { keyRing } from "@onex/runtime";
import { judge, parseTrustPolicy, PolicyMode, type JudgeContext } from "@onex/runtime";
import { verifyRegistryEntry, type NodeIdentityRecord } from "@onex/runtime";
import { MAX_DATE_MS, ReplayGuard } from "@onex/runtime";
import { GrantBook } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { parseDuration } from "../duration.js";
import { parseTime, readJsonFile, readJsonValues, readPublicKeys, readZoneAuthorities } from "../key-files.js";
import { readInput } from "../message-input.js";
import { loadProjectSdks } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";
import { printable, printableField, printableJson } from "../terminal-text.js";

export default class Verify extends OnexCommand {
  static override summary = "Verify signed messages and judge them by the trust policies.";
  static override description = [
    "Checks every JSON, NDJSON or YAML message with the trust policies (signature, token_valid, zone_match, origin_check; defaults as the specification gives them, change them with --policy).",
    "token_valid includes the replay check: a message id seen before in the input, or a message created before the replay window (--replay-window, default 5m) or in the future, is rejected with ONEX_E_REPLAY; judge archived messages with --at.",
    "Prints one line per message: OK, or the code that rejected it; advisory failures are printed as warnings. Message fields are printed with control characters escaped. Exits 1 when any message is rejected.",
    "origin_check needs to know which key each node is registered with (--entries: registrations with their node identities, as `onex registry list` prints them, one a line, or in a JSON array); without --entries it is off unless --policy sets it.",
    "An authority is trusted for one zone: --authority ZONE=FILE, or --authority FILE for the --zone zone; its grants count only in that zone.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> verify signed.ndjson --key node-1.pub",
    "cat signed.ndjson | <%= config.bin %> verify - --key node-1.pub --zone zone.trusted.org --policy zone_match=strict --json",
    "<%= config.bin %> verify msg.json --key node-1.pub --authority zone.trusted.org=zone-ca.pub --grants grants.json --entries registry.ndjson",
  ];

  static override args = {
    file: Args.string({ description: "JSON, NDJSON or YAML file; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    ...sdkFlags,
    key: Flags.string({ description: "Public key file of a trusted signer (repeatable).", required: true, multiple: true }),
    zone: Flags.string({ description: "The receiving session's zone, for zone_match (and the zone of a bare --authority FILE)." }),
    policy: Flags.string({ description: "Policy overrides, as signature=strict,zone_match=advisory,token_valid=strict,origin_check=off." }),
    at: Flags.string({ description: "Judge as of this RFC 3339 time instead of now." }),
    authority: Flags.string({ description: "Zone authority whose grants count in that zone only, as ZONE=FILE (repeatable; with --grants).", multiple: true }),
    grants: Flags.string({ description: "JSON file with a session grant or an array of them; token_valid then requires one for each message." }),
    revocations: Flags.string({ description: "JSON file with grant revocations (as `onex grant revoke --list` writes)." }),
    entries: Flags.string({ description: "File of registrations ({\"entry\", \"identity\"}, one a line as `onex registry list` prints them, or a JSON array): each entry, verified against its node identity, ties a source node id to its key for origin_check and grants." }),
    "replay-window": Flags.string({ description: "How long after its creation a message is accepted, as 90s, 5m or 1h.", default: "5m" }),
    format: Flags.string({ description: "Input format; auto picks YAML for .yaml/.yml files, else JSON or NDJSON by content.", options: ["auto", "json", "yaml"], default: "auto" }),
    json: Flags.boolean({ description: "Print one JSON object per message and a summary line.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Verify);
    if (flags.zone !== undefined) assertZoneId(flags.zone, "--zone");
    // The runtime reads each version's zone, source and time through the layout its SDK registers
    // on loading: the versions of the schemas folder (a project's own too), not only onex's.
    await loadProjectSdks(flags);
    const policy = parseTrustPolicy(flags.policy ?? "");
    const policyText = flags.policy ?? "";
    if (flags.entries === undefined && !/\borigin_check\s*=/.test(policyText)) policy.origin_check = PolicyMode.Off;
    const keys = readPublicKeys(flags.key);
    const context: JudgeContext = { keys: keyRing(keys), logger: { warn: () => {} }, replay: new ReplayGuard({ windowMs: parseDuration(flags["replay-window"], "replay-window", { min: 1, max: MAX_DATE_MS }) }) };
    if (flags.zone !== undefined) context.zone = flags.zone;
    if (flags.at !== undefined) context.now = parseTime(flags.at, "at");
    if (flags.entries !== undefined) context.keyOfEntity = this.registeredKeys(flags.entries, keys);
    if (flags.grants !== undefined) context.grants = this.grantBook(flags.grants, flags.authority ?? [], flags.revocations, flags.zone);
    else if (flags.authority !== undefined || flags.revocations !== undefined) throw new OnexError(ErrorCode.Usage, "--authority and --revocations need --grants");

    const file = args.file ?? "-";
    let checked = 0;
    let rejected = 0;
    let firstCode: string | undefined;
    for await (const item of readInput({ file, format: flags.format as "auto", onTerminal: (hint) => this.logToStderr(hint) })) {
      checked++;
      const verdict = "error" in item ? { accepted: false, rejection: item.error, warnings: [], message: undefined } : judge(item.value as object, context, policy);
      const message = verdict.message as { id?: unknown; type?: unknown } | undefined;
      const id = typeof message?.id === "string" ? message.id : "-";
      const type = typeof message?.type === "string" ? message.type : "-";
      if (!verdict.accepted) {
        rejected++;
        firstCode ??= verdict.rejection?.code;
      }
      if (flags.json) {
        this.log(
          printableJson({
            line: item.line,
            ...(item.index === undefined ? {} : { index: item.index }),
            id,
            type,
            accepted: verdict.accepted,
            code: verdict.rejection?.code ?? null,
            policy: verdict.rejection?.details.policy ?? null,
            reason: verdict.rejection?.details.reason ?? null,
            message: verdict.rejection?.message ?? null,
            signer: "verifiedSigner" in verdict ? (verdict.verifiedSigner ?? null) : null,
            warnings: verdict.warnings,
          }),
        );
        continue;
      }
      const where = `${printable(file)}:${item.line}:${item.index === undefined ? "" : ` [${item.index}]`}`;
      if (verdict.accepted) this.log(`${where} OK ${printableField(type)} ${printableField(id)}${"verifiedSigner" in verdict && verdict.verifiedSigner ? ` signed by ${verdict.verifiedSigner}` : ""}`);
      // Input that could not be read as a message has no type and no id: one "-" stands for it,
      // as in validate's and migrate's lines (it was "- -").
      else if ("error" in item) this.log(`${where} - ${verdict.rejection?.code}: ${printableField(verdict.rejection?.message ?? "")}`);
      else this.log(`${where} ${printableField(type)} ${printableField(id)} ${verdict.rejection?.code}: ${printableField(verdict.rejection?.message ?? "")}`);
      for (const warning of verdict.warnings) this.log(`${where} warning ${warning.code} (${warning.policy}, advisory): ${printableField(warning.message)}`);
    }
    const summary = `${checked} message(s) judged: ${checked - rejected} accepted, ${rejected} rejected`;
    if (flags.json) this.log(JSON.stringify({ checked, accepted: checked - rejected, rejected }));
    if (rejected > 0) throw new OnexError((firstCode as ErrorCode | undefined) ?? ErrorCode.SignatureInvalid, summary);
    if (!flags.json) this.logToStderr(summary);
  }

  /**
   * node id → key id, from registrations (`{entry, identity}`, as `onex registry list` prints
   * them) whose entry verifies against its node identity and whose key is a trusted one. The
   * identity is what ties a node id to a key: a node id derives from the node's key, build and
   * zone. An entry alone proves only that its signer wrote that node id, so any trusted signer
   * could sign one naming another node and pass origin_check (and use that node's grants) as it.
   */
  private registeredKeys(path: string, keys: ReturnType<typeof readPublicKeys>): (entity: string) => string | undefined {
    const registrations = readJsonValues(path, "registry entries file");
    const byKey = keyRing(keys);
    const byNode = new Map<string, string>();
    for (const registration of registrations) {
      const { entry, identity } = (registration ?? {}) as { entry?: unknown; identity?: unknown };
      // A bare entry has a node_id at its top; a registration has it inside `entry`.
      const named = (entry ?? registration) as { node_id?: unknown; key_id?: unknown } | null;
      // Cut as a message's fields are: a file of registrations may hold a member of megabytes.
      const skip = (code: string, why: string) => this.logToStderr(`warning ${code}: ${path}: registry entry ${printableField(shownMember(named?.node_id))} skipped: ${printableField(why)}`);
      if (entry === undefined || identity === undefined) {
        skip(ErrorCode.IdentityMismatch, `it carries no node identity, so nothing ties node ${shownMember(named?.node_id)} to key ${shownMember(named?.key_id)}; give registrations as \`onex registry list\` prints them ({"entry": ..., "identity": ...})`);
        continue;
      }
      const keyId = (entry as { key_id?: unknown } | null)?.key_id;
      const key = typeof keyId === "string" ? byKey(keyId) : undefined;
      // An entry that does not verify, is not its identity's, or is signed by an untrusted key ties nothing: it is reported and skipped.
      try {
        if (key === undefined) throw new OnexError(ErrorCode.SignerUnknown, `key ${shownMember(keyId)} is not one of the --key keys`);
        const verified = verifyRegistryEntry(entry, key, { identity: identity as NodeIdentityRecord });
        byNode.set(verified.node_id, verified.key_id);
      } catch (error) {
        if (!(error instanceof OnexError)) throw error;
        skip(error.code, error.message);
      }
    }
    return (entity) => byNode.get(entity);
  }

  private grantBook(path: string, authoritySpecs: string[], revocationsPath: string | undefined, zone: string | undefined): GrantBook {
    if (authoritySpecs.length === 0) throw new OnexError(ErrorCode.Usage, "--grants needs at least one --authority ZONE=FILE to check the grants with");
    const book = new GrantBook(readZoneAuthorities(authoritySpecs, zone, "--zone"));
    const grants = readJsonFile(path, "grants file");
    for (const grant of Array.isArray(grants) ? grants : [grants]) book.add(grant);
    if (revocationsPath !== undefined) {
      const revocations = readJsonFile(revocationsPath, "revocations file");
      for (const revocation of Array.isArray(revocations) ? revocations : [revocations]) book.revoke(revocation);
    }
    return book;
  }
}

/**
 * A member of a registration as a warning shows it. The file may hold anything there, and
 * String() of an object whose own `toString` and `valueOf` are no functions threw a TypeError:
 * the command ended as ONEX_E_INTERNAL instead of skipping the registration.
 */
function shownMember(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
}
