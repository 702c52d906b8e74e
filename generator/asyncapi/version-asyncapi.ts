/** `onex asyncapi <version>` as a function: load one version of a schemas folder and render its AsyncAPI document. */
import { dirname, resolve } from "node:path";
import { ErrorCode, OnexError } from "@onex/runtime";
import { versionsIn } from "../protocol-versions.js";
import { loadVersion } from "../load-version.js";
import { asyncApiDocument, formatAsyncApi, type AsyncApiFormat, type AsyncApiOptions } from "./asyncapi-document.js";

/** The AsyncAPI document of `version` (`v0.2` or `0.2`) of the schemas in `schemasDir`, as text. */
export async function versionAsyncApi(schemasDir: string, version: string, format: AsyncApiFormat, options: AsyncApiOptions = {}): Promise<string> {
  const dir = resolve(schemasDir);
  const known = await versionsIn(dir).catch((cause: unknown) => {
    throw new OnexError(ErrorCode.FileNotFound, `schemas folder ${schemasDir} cannot be read`, { file: schemasDir }, { cause });
  });
  const wanted = version.replace(/^v/, "");
  if (!known.includes(wanted)) {
    throw new OnexError(ErrorCode.UnknownVersion, `unknown protocol version "${version}" in ${schemasDir} (known: ${known.map((v) => `v${v}`).join(", ") || "none"})`, { version });
  }
  const { model } = await loadVersion(dir, `v${wanted}`, dirname(dir));
  return formatAsyncApi(asyncApiDocument(model, options), format);
}
