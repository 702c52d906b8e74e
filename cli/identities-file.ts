/** The identities file of `onex nats-auth` and `onex streams apply --identities`: a YAML or JSON list of {user, password, zone, role}. */
import { statSync } from "node:fs";
import { ErrorCode, OnexError } from "@onex/runtime";
import { assertServableIdentities, type AuthIdentity } from "@onex/runtime/jetstream";
import { readInput } from "./message-input.js";

/** Reads and checks an identities file; members need a zone. */
export async function readIdentities(file: string): Promise<AuthIdentity[]> {
  // The one input reader: YAML or JSON, with its codes for unreadable, malformed or duplicate-keyed input.
  // A list reads as its elements, each with its index; anything else (a mapping, a second document) is no list of identities.
  const identities: unknown[] = [];
  let list = true;
  for await (const item of readInput({ file, format: "yaml" })) {
    if ("error" in item) throw new OnexError(item.error.code, `${file}: ${item.error.message}`, item.error.details, { cause: item.error });
    if (item.index !== identities.length) list = false;
    identities.push(item.value);
  }
  // An empty list would configure a server with no users at all, which nats-server then runs without authentication.
  if (!list || identities.length === 0 || identities.some((i) => !isIdentity(i))) {
    throw new OnexError(ErrorCode.Usage, `${file} must be a list of {user, password, zone, role?}: every identity, admins included, belongs to one zone`, { file });
  }
  try {
    assertServableIdentities(identities as AuthIdentity[]);
  } catch (error) {
    if (error instanceof OnexError) throw new OnexError(error.code, `${file}: ${error.message}`, { file, ...error.details }, { cause: error });
    throw error;
  }
  warnIfOthersCanRead(file, identities as AuthIdentity[]);
  return identities as AuthIdentity[];
}

function isIdentity(value: unknown): boolean {
  const i = value as Partial<AuthIdentity> | null;
  return (
    i !== null &&
    typeof i === "object" &&
    typeof i.user === "string" &&
    typeof i.password === "string" &&
    (i.role === undefined || i.role === "member" || i.role === "admin") &&
    typeof i.zone === "string" &&
    i.zone !== ""
  );
}

/**
 * The identities file holds every user's password: one that group or others may read is said
 * on stderr, as the config written from it is made owner-only. Only a warning: passwords that
 * are all bcrypt hashes ($2...) may be read by anyone, and the file may be managed elsewhere.
 */
function warnIfOthersCanRead(file: string, identities: readonly AuthIdentity[]): void {
  if (file === "-" || process.platform === "win32" || identities.every((i) => i.password.startsWith("$2"))) return;
  let mode: number;
  try {
    const info = statSync(file);
    if (!info.isFile()) return; // a pipe (<(pass show ...)) is this process's alone
    mode = info.mode & 0o777;
  } catch {
    return;
  }
  if ((mode & 0o044) === 0) return;
  process.stderr.write(`warning: ${file} holds passwords and other users can read it (mode ${mode.toString(8).padStart(4, "0")}); run \`chmod 600 ${file}\`\n`);
}
