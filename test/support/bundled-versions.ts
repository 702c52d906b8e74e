/**
 * The protocol versions of the project's schemas folder, oldest first, as every command finds
 * them (generator/protocol-versions.ts). Tests iterate over these instead of naming versions,
 * so adding a version folder needs no test edit.
 */
import { join } from "node:path";
import { versionsIn } from "../../generator/protocol-versions.js";
import { PROJECT_ROOT } from "./temp-schemas.js";

/** `["0.0.9", "0.1", "0.2", ...]` */
export const BUNDLED_VERSIONS: readonly string[] = await versionsIn(join(PROJECT_ROOT, "schemas"));

/** `["v0.0.9", "v0.1", "v0.2", ...]`: the version folders, as generated/ names them too. */
export const BUNDLED_VERSION_FOLDERS: readonly string[] = BUNDLED_VERSIONS.map((v) => `v${v}`);
