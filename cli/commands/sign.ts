import { Args, Flags } from "@oclif/core";
import { isOnexError, OnexError } from "@onex/runtime";
import { signMessage } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { privateKeyFlags, readPrivateKey } from "../key-files.js";
import { readInput } from "../message-input.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

export default class Sign extends OnexCommand {
  static override summary = "Sign messages with an Ed25519 key.";
  static override description =
    "Reads JSON, NDJSON, a JSON array or YAML messages, sets trust.signer to the key's id and trust.signature to the signature over the canonical envelope, and prints each signed message as one JSON line. Messages are read with the SDK generated from --schemas (exactly as `onex generate` last wrote it; ONEX_E_SDK_STALE when it is not current); with --version, each message is validated against that version before it is signed. The first message that cannot be read or signed stops the run with its line and code. The private key file must be readable by its owner only (chmod 600), unless --allow-unprotected-key.";
  static override examples = ["<%= config.bin %> sign task.json --key node-1.key", "cat outbox.ndjson | <%= config.bin %> sign - --key node-1.key --version v0.1 > signed.ndjson"];

  static override args = {
    file: Args.string({ description: "JSON, NDJSON or YAML file; - or nothing reads stdin.", ignoreStdin: true }),
  };

  static override flags = {
    ...sdkFlags,
    key: Flags.string({ description: "Private key file (PEM or compact).", required: true }),
    version: Flags.string({ description: "Validate each message against this protocol version before signing." }),
    format: Flags.string({ description: "Input format; auto picks YAML for .yaml/.yml files, else JSON or NDJSON by content.", options: ["auto", "json", "yaml"], default: "auto" }),
    ...privateKeyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Sign);
    const key = readPrivateKey(flags.key, { allowUnprotected: flags["allow-unprotected-key"] });
    const project = await openProjectSdk(flags);
    const version = flags.version === undefined ? undefined : project.resolveVersion(flags.version);
    // Signing reads each message's creation time (refused unless strict) through the envelope
    // layout of its version, which that version's SDK registers on loading: every version's.
    const sdks = await Promise.all(project.versions.map((v) => project.load(v)));
    const sdk = version === undefined ? undefined : sdks[project.versions.indexOf(version)];
    const file = args.file ?? "-";
    let signed = 0;
    for await (const item of readInput({ file, format: flags.format as "auto", onTerminal: (hint) => this.logToStderr(hint) })) {
      try {
        if ("error" in item) throw item.error;
        sdk?.parseMessage(item.value as object);
        this.log(JSON.stringify(signMessage(item.value as object, key)));
      } catch (error) {
        if (!isOnexError(error)) throw error;
        const at = item.index === undefined ? "" : ` [${item.index}]`;
        throw new OnexError(error.code, `${file}:${item.line}:${at} ${error.message}`, { ...error.details, file, line: item.line, ...(item.index === undefined ? {} : { index: item.index }) }, { cause: error });
      }
      signed++;
    }
    this.logToStderr(`signed ${signed} message(s) with ${key.keyId}`);
  }
}
