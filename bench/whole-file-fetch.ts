/**
 * One plain HTTP client of bench:artifact, run as its own process: GETs the whole file from
 * the seeder, then verifies it against the descriptor. With `--sync` it first flushes the file
 * to disk, as `onex artifact fetch` does before it renames its download into place (and as
 * careful downloaders, a container runtime committing a layer say, do); without, the file may
 * still be only in the page cache when it exits, as after curl or wget.
 *
 *   node --import tsx bench/whole-file-fetch.ts URL OUT DESCRIPTOR.json [--sync]   (bench:artifact runs it bundled by esbuild)
 */
import { createWriteStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { get } from "node:http";
import { pipeline } from "node:stream/promises";
import type { ArtifactDescriptorRecord } from "../runtime/dataplane/descriptor.js";
import { verifyWholeFile } from "../runtime/dataplane/piece-store.js";

const [url, out, descriptorFile, sync] = process.argv.slice(2) as [string, string, string, string | undefined];
const descriptor = JSON.parse(await readFile(descriptorFile, "utf8")) as ArtifactDescriptorRecord;
await new Promise<void>((resolve, reject) => {
  get(url, (res) => pipeline(res, createWriteStream(out)).then(resolve, reject)).on("error", reject);
});
if (sync === "--sync") {
  const handle = await open(out, "r+");
  await handle.sync();
  await handle.close();
}
await verifyWholeFile(descriptor, out);
