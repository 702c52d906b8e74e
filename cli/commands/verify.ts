import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { keyRing } from "../../runtime/trust/keys.js";
import { judge, parseTrustPolicy, PolicyMode, type JudgeContext } from "../../runtime/trust/policy.js";
import { verifyRegistryEntry } from "../../runtime/trust/registry-entry.js";
import { GrantBook } from "../../runtime/trust/session-grant.js";
import { OnexCommand } from "../base-command.js";
import { parseTime, readJsonFile, readPublicKeys } from "../key-files.js";
import { openInput, readMessages } from "../message-input.js";

export default class Verify extends OnexCommand {
  static override summary = "Verify signed messages and judge them by the trust policies.";
  static override description = [
    "Checks every JSON or NDJSON message with the trust policies (signature, token_valid, zone_match, origin_check; defaults as the specification gives them, change them with --policy).",
    "Prints one line per message: OK, or the code that rejected it; advisory failures are printed as warnings. Exits 1 when any message is rejected.",
    "origin_check needs to know which key each node is registered with (--entries); without --entries it is off unless --policy sets it.",
  ].join(" ");
  static override examples = [
    "<%= config.bin %> verify signed.ndjson --key node-1.pub",
    "cat signed.ndjson | <%= config.bin %> verify - --key node-1.pub --zone zone.trusted.org --policy zone_match=strict --json",
    "<%= config.bin %> verify msg.json --key node-1.pub --authority zone-ca.pub --grants grants.json --entries registry.json",
  ];

  static override args = {
    file: Args.string({ description: "JSON or NDJSON file; - or nothing reads stdin." }),
  };

  static override flags = {
    key: Flags.string({ description: "Public key file of a trusted signer (repeatable).", required: true, multiple: true }),
    zone: Flags.string({ description: "The receiving session's zone, for zone_match." }),
    policy: Flags.string({ description: "Policy overrides, as signature=strict,zone_match=advisory,token_valid=strict,origin_check=off." }),
    at: Flags.string({ description: "Judge as of this RFC 3339 time instead of now." }),
    authority: Flags.string({ description: "Public key file of a zone authority whose grants count (repeatable; with --grants).", multiple: true }),
    grants: Flags.string({ description: "JSON file with a session grant or an array of them; token_valid then requires one for each message." }),
    revocations: Flags.string({ description: "JSON file with grant revocations (as `onex grant revoke --list` writes)." }),
    entries: Flags.string({ description: "JSON file with signed registry entries (an array); they tie source node ids to keys for origin_check." }),
    json: Flags.boolean({ description: "Print one JSON object per message and a summary line.", default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Verify);
    const policy = parseTrustPolicy(flags.policy ?? "");
    const policyText = flags.policy ?? "";
    if (flags.entries === undefined && !/\borigin_check\s*=/.test(policyText)) policy.origin_check = PolicyMode.Off;
    const keys = readPublicKeys(flags.key);
    const context: JudgeContext = { keys: keyRing(keys), logger: { warn: () => {} } };
    if (flags.zone !== undefined) context.zone = flags.zone;
    if (flags.at !== undefined) context.now = parseTime(flags.at, "at");
    if (flags.entries !== undefined) context.keyOfEntity = this.registeredKeys(flags.entries, keys);
    if (flags.grants !== undefined) context.grants = this.grantBook(flags.grants, flags.authority ?? [], flags.revocations);
    else if (flags.authority !== undefined || flags.revocations !== undefined) throw new OnexError(ErrorCode.Usage, "--authority and --revocations need --grants");

    const file = args.file ?? "-";
    let checked = 0;
    let rejected = 0;
    let firstCode: string | undefined;
    for await (const item of readMessages(openInput(file), file)) {
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
          JSON.stringify({
            line: item.line,
            id,
            type,
            accepted: verdict.accepted,
            code: verdict.rejection?.code ?? null,
            policy: verdict.rejection?.details.policy ?? null,
            message: verdict.rejection?.message ?? null,
            signer: "verifiedSigner" in verdict ? (verdict.verifiedSigner ?? null) : null,
            warnings: verdict.warnings,
          }),
        );
        continue;
      }
      if (verdict.accepted) this.log(`${file}:${item.line}: OK ${type} ${id}${"verifiedSigner" in verdict && verdict.verifiedSigner ? ` signed by ${verdict.verifiedSigner}` : ""}`);
      else this.log(`${file}:${item.line}: ${type} ${id} ${verdict.rejection?.code}: ${verdict.rejection?.message}`);
      for (const warning of verdict.warnings) this.log(`${file}:${item.line}: warning ${warning.code} (${warning.policy}, advisory): ${warning.message}`);
    }
    const summary = `${checked} message(s) judged: ${checked - rejected} accepted, ${rejected} rejected`;
    if (flags.json) this.log(JSON.stringify({ checked, accepted: checked - rejected, rejected }));
    if (rejected > 0) throw new OnexError((firstCode as ErrorCode | undefined) ?? ErrorCode.SignatureInvalid, summary);
    if (!flags.json) this.logToStderr(summary);
  }

  /** node id → key id, from registry entries that verify with one of the trusted keys. */
  private registeredKeys(path: string, keys: ReturnType<typeof readPublicKeys>): (entity: string) => string | undefined {
    const value = readJsonFile(path, "registry entries file");
    const entries = Array.isArray(value) ? value : [value];
    const byKey = keyRing(keys);
    const byNode = new Map<string, string>();
    for (const entry of entries) {
      const keyId = (entry as { key_id?: unknown } | null)?.key_id;
      const key = typeof keyId === "string" ? byKey(keyId) : undefined;
      // An entry whose signature does not verify ties nothing: it is reported and skipped.
      try {
        const verified = verifyRegistryEntry(entry, key);
        byNode.set(verified.node_id, verified.key_id);
      } catch (error) {
        if (!(error instanceof OnexError)) throw error;
        this.logToStderr(`warning ${error.code}: ${path}: registry entry ${String((entry as { node_id?: unknown } | null)?.node_id)} skipped: ${error.message}`);
      }
    }
    return (entity) => byNode.get(entity);
  }

  private grantBook(path: string, authorityFiles: string[], revocationsPath: string | undefined): GrantBook {
    if (authorityFiles.length === 0) throw new OnexError(ErrorCode.Usage, "--grants needs at least one --authority key to check the grants with");
    const book = new GrantBook(keyRing(readPublicKeys(authorityFiles)));
    const grants = readJsonFile(path, "grants file");
    for (const grant of Array.isArray(grants) ? grants : [grants]) book.add(grant);
    if (revocationsPath !== undefined) {
      const revocations = readJsonFile(revocationsPath, "revocations file");
      for (const revocation of Array.isArray(revocations) ? revocations : [revocations]) book.revoke(revocation);
    }
    return book;
  }
}
