/** Where the public test corpora live: copied into the repository (test/conformance/corpora, with their licences and source commits), so a fresh clone runs its tests. */
import { fileURLToPath } from "node:url";

export const CORPORA = fileURLToPath(new URL("../conformance/corpora/", import.meta.url));
