import { Flags } from "@oclif/core";
import { ErrorCode, exportPrivateKey, generateKeyPair, OnexError } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { writeKeyPairFiles } from "../key-files.js";

export default class Keygen extends OnexCommand {
  static override summary = "Generate an Ed25519 signing key.";
  static override description =
    "Writes <out>.key (the private key, mode 0600 from its first byte) and <out>.pub (the public key), and prints the key id. Both files are written or neither: an existing file is kept unless --force, which replaces both as one: a failure leaves the old pair (a symlink at the target is replaced, never followed). The private key is printed only with --stdout, which writes no files.";
  static override examples = ["<%= config.bin %> keygen --out node-1", "<%= config.bin %> keygen --out agent --format compact", "<%= config.bin %> keygen --stdout > vault-import.pem"];

  static override flags = {
    out: Flags.string({ description: "Path prefix of the key files (<out>.key and <out>.pub).", default: "onex" }),
    format: Flags.string({ description: "Key file format: PEM (OpenSSL-compatible) or one-line compact text.", options: ["pem", "compact"], default: "pem" }),
    force: Flags.boolean({ description: "Replace existing key files.", default: false }),
    // Exclusive: a key printed where files were asked for (`--stdout --out node-1`) left no file, and said so only on stderr.
    stdout: Flags.boolean({ description: "Print the private key to stdout instead of writing files.", default: false, exclusive: ["out", "force"] }),
    json: Flags.boolean({ description: "Print the key id and file paths as JSON.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Keygen);
    const format = flags.format as "pem" | "compact";
    if (flags.stdout && flags.json) throw new OnexError(ErrorCode.Usage, "--json describes the files keygen writes; --stdout writes none (the private key is the output)");
    // An empty prefix or one ending in "/" would name hidden files ".key" and ".pub" nobody asked for.
    if (!flags.stdout && (flags.out === "" || /[/\\]$/.test(flags.out))) throw new OnexError(ErrorCode.Usage, `--out "${flags.out}" names no file: give a path prefix such as node-1 or keys/node-1`);
    const key = generateKeyPair();
    if (flags.stdout) {
      await this.print(exportPrivateKey(key, format).trimEnd());
      this.logToStderr(`key id ${key.keyId} (private key printed to stdout, no files written)`);
      return;
    }
    const { privatePath, publicPath } = writeKeyPairFiles(flags.out, key, format, flags.force);
    if (flags.json) {
      this.log(JSON.stringify({ key_id: key.keyId, public_key: key.publicKey.raw.toString("base64url"), private_key_file: privatePath, public_key_file: publicPath }));
    } else {
      this.log(key.keyId);
      this.logToStderr(`wrote ${privatePath} (private, mode 0600) and ${publicPath}`);
    }
  }
}
