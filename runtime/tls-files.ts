/**
 * TLS from PEM files, as the NATS CLI takes them (`--tlsca`, `--tlscert`, `--tlskey`): the CA
 * that signed the server's certificate (when no system CA did), and the client's own
 * certificate and key for a server that verifies clients (nats-server's `tls { verify: true }`,
 * etcd's `--client-cert-auth`). The control plane's connection and the registry's NATS and
 * etcd stores take them. A NATS server that requires TLS is met with TLS whatever is given here;
 * these files are what a private CA or a client-verifying server needs.
 */
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import { ErrorCode, OnexError } from "./errors.js";
import { describeValue } from "./option-check.js";

/** PEM files for TLS to the server. */
export interface TlsFiles {
  /** The CA certificate(s) the server's certificate must chain to. */
  caFile?: string;
  /** The client's certificate, for a server that verifies clients; given with `keyFile`. */
  certFile?: string;
  /** The client certificate's private key. */
  keyFile?: string;
}

const FIELDS = ["caFile", "certFile", "keyFile"] as const;

/**
 * `tls` checked before anything connects: each file a readable regular file, a certificate with
 * its key. nats.js reads them only once the server has answered, and a file it could not read
 * failed the connection as if the server were away (ONEX_E_CONNECTION). A missing file is
 * ONEX_E_FILE_NOT_FOUND and one that cannot be read (a folder, no permission) is
 * ONEX_E_FILE_UNREADABLE, as every other file onex reads; a malformed `tls` is ONEX_E_USAGE.
 * Each file is named as `names` says (an option path, the CLI's flags, a URL's parameters). The
 * paths come back absolute, resolved against the working folder of this call.
 */
export function checkTlsFiles(tls: unknown, names: Record<(typeof FIELDS)[number], string> = { caFile: "tls.caFile", certFile: "tls.certFile", keyFile: "tls.keyFile" }): TlsFiles | undefined {
  if (tls === undefined) return undefined;
  if (tls === null || typeof tls !== "object" || Array.isArray(tls)) throw new OnexError(ErrorCode.Usage, `connect: tls must be { caFile, certFile, keyFile } (paths of PEM files), not ${describeValue(tls)}`);
  const given = tls as Record<string, unknown>;
  const unknown = Object.keys(given).find((key) => !(FIELDS as readonly string[]).includes(key));
  if (unknown !== undefined) throw new OnexError(ErrorCode.Usage, `connect: tls takes caFile, certFile and keyFile, not ${unknown}`);
  const files: TlsFiles = {};
  for (const field of FIELDS) {
    const path = given[field];
    if (path === undefined) continue;
    if (typeof path !== "string" || path === "") throw new OnexError(ErrorCode.Usage, `${names[field]} must be the path of a PEM file, not ${describeValue(path)}`);
    try {
      accessSync(path, constants.R_OK);
      if (!statSync(path).isFile()) throw new Error("not a regular file");
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code === "ENOENT" ? ErrorCode.FileNotFound : ErrorCode.FileUnreadable;
      throw new OnexError(code, `${names[field]}: cannot read ${path} (${(cause as Error).message})`, { path }, { cause });
    }
    // Absolute: nats.js reads the files again at every reconnect (a renewed certificate is taken
    // so), and a relative path read after the process changed its working folder failed each one.
    files[field] = resolve(path);
  }
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new OnexError(ErrorCode.Usage, `a client certificate needs its key: give ${names.certFile} and ${names.keyFile} together`);
  }
  return Object.keys(files).length === 0 ? undefined : files;
}
