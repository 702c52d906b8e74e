/** The identities file of `onex nats-auth` and `onex streams apply --identities`: a YAML or JSON list of {user, password, zone, role}. */
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
