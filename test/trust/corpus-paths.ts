/** Where the shared public test corpora live: `../shared/corpora` relative to the project root, never copied in. */
import { fileURLToPath } from "node:url";

export const CORPORA = fileURLToPath(new URL("../../../shared/corpora/", import.meta.url));
