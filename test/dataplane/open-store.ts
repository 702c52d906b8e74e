/**
 * Run by piece-store.test.ts in a child process whose file-size limit (`ulimit -f`) is below the
 * artifact's size: opens a piece store for the descriptor at argv[2] to download into argv[3],
 * and prints what came of it as one JSON line.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import { PieceStore } from "../../runtime/dataplane/piece-store.js";

const [descriptorPath, out] = process.argv.slice(2) as [string, string];
/** Open descriptors of this process on a file under the download's folder (removed files included). */
const openInFolder = () =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dirname(out));
    } catch {
      return false; // closed meanwhile (the listing's own descriptor)
    }
  }).length;
let error: { code?: string; message?: string; details?: unknown } | undefined;
try {
  await (await PieceStore.open(JSON.parse(readFileSync(descriptorPath, "utf8")), out)).close();
} catch (caught) {
  error = caught as typeof error;
}
console.log(JSON.stringify({ code: error?.code, message: error?.message, details: error?.details, leftOpen: openInFolder(), files: readdirSync(dirname(out)) }));
