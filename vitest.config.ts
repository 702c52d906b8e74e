import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Generated code imports the runtime by package name; in tests that is the source.
    alias: [
      { find: /^onex\/runtime\/codegen-v1$/, replacement: here("./runtime/codegen-v1.ts") },
      { find: /^onex\/runtime$/, replacement: here("./runtime/index.ts") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
