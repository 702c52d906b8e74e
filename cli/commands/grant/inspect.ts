import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError, isOnexError } from "@onex/runtime";
import { parseRfc3339 } from "@onex/runtime";
import { RevocationList, verifySessionGrant } from "@onex/runtime";
import { assertValid, type SessionGrantRecord, type StandaloneValidator } from "@onex/runtime";
import { OnexCommand } from "../../base-command.js";
import { parseTime, readJsonFile, readZoneAuthorities } from "../../key-files.js";
import { sdkSpeaking } from "../../protocol-choice.js";
import { printable, printableJson } from "../../terminal-text.js";

/** The generated `SessionGrant` validator of an SDK, if its version has the record. */
function sessionGrantValidator(sdk: object): StandaloneValidator | undefined {
  const validators = (sdk as { validators?: Record<string, StandaloneValidator> }).validators;
  return validators !== undefined && Object.hasOwn(validators, "SessionGrant") ? validators.SessionGrant : undefined;
}

export default class GrantInspect extends OnexCommand {
  static override summary = "Show a session grant and whether it is valid.";
  static override description =
    "Validates the grant against the SessionGrant schema and prints its fields and status. With --authority the signature is checked too, and with --revocations whether it was revoked; without --authority the signature is reported as not checked. Exits 1 when the grant is invalid, revoked, expired or not yet valid.";
  static override examples = ["<%= config.bin %> grant inspect grant.json --authority zone-ca.pub --revocations revocations.json", "<%= config.bin %> grant inspect grant.json --json"];

  static override args = {
    grant: Args.string({ description: "The grant file (JSON).", required: true }),
  };

  static override flags = {
    authority: Flags.string({ description: "Zone authority as ZONE=FILE, or FILE for the grant's own zone (repeatable).", multiple: true }),
    revocations: Flags.string({ description: "Revocation list file (JSON array)." }),
    at: Flags.string({ description: "Judge validity as of this RFC 3339 time instead of now." }),
    json: Flags.boolean({ description: "Print the grant and its status as JSON.", default: false }),
    protocol: Flags.string({ description: "Protocol version whose SessionGrant schema the grant is checked against (default: the newest bundled version with one).", env: "ONEX_PROTOCOL" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(GrantInspect);
    const grant = readJsonFile(args.grant, "grant");
    const sdk = await sdkSpeaking("a session grant", (s) => sessionGrantValidator(s) !== undefined, flags.protocol);
    assertValid(sessionGrantValidator(sdk)!, grant, { version: sdk.version, schemaId: "SessionGrant" });
    const record = grant as SessionGrantRecord;
    const now = flags.at === undefined ? Date.now() : parseTime(flags.at, "at");
    let failure: OnexError | undefined;
    let signature: "valid" | "not checked" | "invalid" = "not checked";
    if (flags.authority !== undefined) {
      const authorities = readZoneAuthorities(flags.authority, record.zone, "a grant with a zone");
      const revocations = new RevocationList(authorities);
      if (flags.revocations !== undefined) {
        const list = readJsonFile(flags.revocations, "revocation list");
        for (const revocation of Array.isArray(list) ? list : [list]) revocations.add(revocation);
      }
      try {
        verifySessionGrant(record, { authorities, revocations, now });
        signature = "valid";
      } catch (error) {
        if (!isOnexError(error)) throw error;
        failure = error;
        const reason = error.details.reason;
        signature = error.code === ErrorCode.GrantInvalid && (reason === "signature" || reason === "issuer") ? "invalid" : "valid";
      }
    } else if (flags.revocations !== undefined) {
      throw new OnexError(ErrorCode.Usage, "--revocations needs --authority to check the revocations' signatures");
    } else if (now < parseRfc3339(record.not_before)) {
      failure = new OnexError(ErrorCode.GrantNotYetValid, `grant ${record.grant_id} is valid from ${record.not_before}`);
    } else if (now >= parseRfc3339(record.expires_at)) {
      failure = new OnexError(ErrorCode.GrantExpired, `grant ${record.grant_id} expired at ${record.expires_at}`);
    }
    const status = failure === undefined ? "valid" : failure.code;
    // A grant to inspect is anyone's text: its fields are printed escaped, so none can start a
    // line of its own ("status valid") or send the terminal an escape sequence.
    if (flags.json) {
      this.log(printableJson({ grant: record, status, signature, message: failure?.message ?? null }));
    } else {
      const { scopes } = record;
      this.log(
        [
          `grant       ${record.grant_id}`,
          `subject     ${record.subject}`,
          `issuer      ${record.issuer}`,
          `zone        ${record.zone}`,
          `types       ${scopes.message_types.join(", ") || "(none)"}`,
          `zones       ${scopes.zones.join(", ") || "(none)"}`,
          `valid       ${record.not_before} .. ${record.expires_at}`,
          `signature   ${signature}${signature === "not checked" ? " (pass --authority)" : ""}`,
          `status      ${status}${failure ? `: ${failure.message}` : ""}`,
        ]
          .map(printable)
          .join("\n"),
      );
    }
    if (failure !== undefined) throw failure;
  }
}
