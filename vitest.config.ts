import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // The workspace packages resolve to their sources in tests, as tsconfig.json's `paths` do
    // for the type-checker; the built packages are what test/package installs.
    alias: [
      { find: /^@onex\/runtime$/, replacement: here("./runtime/index.ts") },
      { find: /^@onex\/runtime\/codegen-v1$/, replacement: here("./runtime/codegen-v1.ts") },
      { find: /^@onex\/runtime\/([a-z]+)$/, replacement: here("./runtime/$1/index.ts") },
      { find: /^@onex\/sdk\/versions$/, replacement: here("./generated/versions.ts") },
      { find: /^@onex\/sdk\/([^/]+)$/, replacement: here("./generated/$1/index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
