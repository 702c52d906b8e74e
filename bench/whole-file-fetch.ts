/**
 * One plain HTTP client of bench:artifact, run as its own process: GETs the whole file from
 * the seeder, then verifies it against the descriptor (the same end state as a swarm fetch).
 *
 *   node --import tsx bench/whole-file-fetch.ts URL OUT DESCRIPTOR.json   (bench:artifact runs it bundled by esbuild)
 */
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { get } from "node:http";
import { pipeline } from "node:stream/promises";
import type { ArtifactDescriptorRecord } from "../runtime/dataplane/descriptor.js";
import { verifyWholeFile } from "../runtime/dataplane/piece-store.js";

const [url, out, descriptorFile] = process.argv.slice(2) as [string, string, string];
const descriptor = JSON.parse(await readFile(descriptorFile, "utf8")) as ArtifactDescriptorRecord;
await new Promise<void>((resolve, reject) => {
  get(url, (res) => pipeline(res, createWriteStream(out)).then(resolve, reject)).on("error", reject);
});
await verifyWholeFile(descriptor, out);
