import { existsSync, lstatSync, realpathSync, statSync } from "node:fs";
import { Args, Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { revokeSessionGrant, verifyGrantAuthenticity } from "@onex/runtime";
import { ZoneAuthorities } from "@onex/runtime";
import { OnexCommand } from "../../base-command.js";
import { readFailure, writeFailure } from "../../file-errors.js";
import { withFileLock } from "../../file-lock.js";
import { privateKeyFlags, readJsonFile, readPrivateKey } from "../../key-files.js";
import { writeOutputFile } from "../../output-file.js";
import { printable } from "../../terminal-text.js";

export default class GrantRevoke extends OnexCommand {
  static override summary = "Revoke a session grant as the authority that issued it.";
  static override description =
    "Signs a revocation of the grant with the issuing authority's key. Prints it as JSON, or with --list adds it to a revocation list file (a JSON array, created if missing) that `onex verify --revocations` and `onex grant inspect --revocations` read. Distribute the list to every verifier: a revocation only takes effect where it is known. It names the grant by issuer and id, so it revokes every grant issued under that id, renewals included.";
  static override examples = ["<%= config.bin %> grant revoke grant.json --key zone-ca.key --reason 'node decommissioned' --list revocations.json"];

  static override args = {
    grant: Args.string({ description: "The grant file (JSON).", required: true }),
  };

  static override flags = {
    key: Flags.string({ description: "The issuing authority's private key file.", required: true }),
    reason: Flags.string({ description: "Why the grant is revoked (recorded in the revocation)." }),
    list: Flags.string({ description: "Revocation list file to add the revocation to (replaced whole, atomically, by one run at a time)." }),
    ...privateKeyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(GrantRevoke);
    const authority = readPrivateKey(flags.key, { allowUnprotected: flags["allow-unprotected-key"] });
    // Only a grant this authority really issued (for the zone the grant names) can be revoked by it.
    const grantValue = readJsonFile(args.grant, "grant");
    const grantZone = (grantValue as { zone?: unknown } | null)?.zone;
    const authorities = typeof grantZone === "string" && grantZone !== "" && grantZone !== "*" ? new ZoneAuthorities([{ zone: grantZone, key: authority.publicKey }]) : new ZoneAuthorities();
    const grant = verifyGrantAuthenticity(grantValue, authorities);
    const revocation = revokeSessionGrant(grant, authority, flags.reason === undefined ? {} : { reason: flags.reason });
    if (flags.list === undefined) {
      await this.print(JSON.stringify(revocation, null, 2));
    } else {
      const file = listFile(flags.list);
      // Read and written back by one run at a time: two at once would each lose the other's revocation.
      withFileLock(file, () => {
        const existing = existsSync(file) ? readJsonFile(file, "revocation list") : [];
        if (!Array.isArray(existing)) throw new OnexError(ErrorCode.ValidationFailed, `${flags.list} is not a JSON array of revocations`, { file: flags.list });
        const list = [...existing.filter((r) => (r as { grant_id?: unknown } | null)?.grant_id !== grant.grant_id || (r as { issuer?: unknown }).issuer !== grant.issuer), revocation];
        writeOutputFile(file, JSON.stringify(list, null, 2) + "\n", { force: true });
      });
    }
    this.logToStderr(printable(`revoked grant ${grant.grant_id} of ${grant.subject}${flags.list ? ` (added to ${flags.list})` : ""}`));
  }
}

/**
 * The file a revocation list path stands for. Verifiers read a list through a link as the file
 * it points to: the revocation goes into that file, not into a new one put in the link's place,
 * which would leave every verifier reading the list without it. A link to nothing is refused.
 */
function listFile(path: string): string {
  if (existsSync(path)) {
    const file = realpathSync(path);
    // Checked before the lock is taken and the list read: a FIFO waited for a writer for ever (its
    // lock left behind when the run was killed), and a folder was said to have "2 hard links".
    const stat = statSync(file);
    if (stat.isDirectory()) throw readFailure(Object.assign(new Error("is a folder"), { code: "EISDIR" }), path, "revocation list");
    if (!stat.isFile()) throw writeFailure(new Error("it is not a regular file (a device, a pipe or a socket), and the list is replaced whole with the revocation added: name a file"), path);
    // A file put in its place would leave every other name of a hard-linked list without the revocation.
    const links = stat.nlink;
    if (links > 1) throw new OnexError(ErrorCode.WriteFailed, `the revocation list ${path} has ${links} hard links; a new list put in its place would leave the others without the revocation: keep one file, and link to it with symbolic links`, { file: path, nlink: links });
    return file;
  }
  if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
    throw new OnexError(ErrorCode.FileNotFound, `the revocation list ${path} is a link to a file that does not exist; create that file (an empty list is []) or name the list itself`, { file: path });
  }
  return path;
}
