import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

interface Case {
  name: string;
  code: string;
  /** Breaks the copied schemas; returns the file (relative to the copy) the error must name. */
  breakIt: (schemas: string) => Promise<string>;
  line: number;
}

const manifest01 = (schemas: string) => join(schemas, "v0.1", "manifest.yaml");

const cases: Case[] = [
  {
    name: "malformed YAML",
    code: ErrorCode.YamlSyntax,
    line: 4, // the unclosed `[` of line 3 is detected where the next key starts
    breakIt: async (s) => {
      await editFile(manifest01(s), (t) => t.replace('compatible_with: ["0.0.9"]', 'compatible_with: ["0.0.9"'));
      return "schemas/v0.1/manifest.yaml";
    },
  },
  {
    name: "a manifest that breaks the meta-schema",
    code: ErrorCode.ManifestInvalid,
    line: 4,
    breakIt: async (s) => {
      await editFile(manifest01(s), (t) => t.replace("declared_by: onex", "declared_by: 42"));
      return "schemas/v0.1/manifest.yaml";
    },
  },
  {
    name: "an unresolvable $ref",
    code: ErrorCode.RefUnresolved,
    line: 16,
    breakIt: async (s) => {
      await editFile(join(s, "v0.1", "messages", "result-ready.yaml"), (t) => t.replace("../records/execution-attestation.yaml", "../records/missing.yaml"));
      return "schemas/v0.1/messages/result-ready.yaml";
    },
  },
  {
    name: "two messages with one type",
    code: ErrorCode.DuplicateType,
    line: 53,
    breakIt: async (s) => {
      await editFile(manifest01(s), (t) => t.replace("- type: event.agent.started", "- type: event.node.register"));
      return "schemas/v0.1/manifest.yaml";
    },
  },
  {
    name: "a subject template with an unknown placeholder",
    code: ErrorCode.SubjectPlaceholder,
    line: 31,
    breakIt: async (s) => {
      await editFile(manifest01(s), (t) => t.replace("{entity_id}.events", "{entity_id}.{region}.events"));
      return "schemas/v0.1/manifest.yaml";
    },
  },
  {
    name: "a JSON Schema keyword ajv rejects",
    code: ErrorCode.SchemaInvalid,
    line: 12,
    breakIt: async (s) => {
      await editFile(join(s, "v0.1", "messages", "node-failed.yaml"), (t) => t.replace("  reason:\n    type: string", "  reason:\n    type: string\n    maxLenght: 10"));
      return "schemas/v0.1/messages/node-failed.yaml";
    },
  },
];

describe("bad input to onex generate", () => {
  it("an auto field the envelope does not have is ONEX_E_MANIFEST_INVALID", async () => {
    const { schemas, out } = await copySchemas();
    await editFile(manifest01(schemas), (t) => t.replace("  time: now\n", "  created: now\n"));
    await expect(generate({ schemasDir: schemas, outDir: out })).rejects.toMatchObject({ code: ErrorCode.ManifestInvalid, details: { line: 26 } });
  });

  for (const c of cases) {
    it(`${c.name}: ${c.code} with file, line and column`, async () => {
      const { schemas, out } = await copySchemas();
      const file = await c.breakIt(schemas);
      const error = await generate({ schemasDir: schemas, outDir: out }).then(
        () => {
          throw new Error("generate succeeded on broken input");
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OnexError);
      const onex = error as OnexError;
      expect(onex.code).toBe(c.code);
      expect(onex.details.file).toBe(file);
      expect(onex.details.line).toBe(c.line);
      expect(onex.details.column).toBeGreaterThan(0);
      expect(onex.message).toContain(`${file}:${c.line}:`);
    });

    it(`${c.name}: the CLI prints the code, no stack trace, and exits 3`, async () => {
      const { root, schemas } = await copySchemas();
      await c.breakIt(schemas);
      const result = runCli(["generate", "--schemas", "schemas", "--out", "generated"], { cwd: root });
      expect(result.status).toBe(3);
      expect(result.stderr).toContain(`error ${c.code}:`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it("--debug adds the details and stack trace", async () => {
    const { root, schemas } = await copySchemas();
    await cases[0]!.breakIt(schemas);
    const result = runCli(["generate", "--schemas", "schemas", "--debug"], { cwd: root });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/\n\s+at /);
    expect(result.stderr).toContain('"line": 4');
  });

  it("a missing schemas folder is ONEX_E_FILE_NOT_FOUND", async () => {
    const result = runCli(["generate", "--schemas", "/nonexistent/onex-schemas"]);
    expect(result.status).toBe(3);
    expect(result.stderr).toContain(`error ${ErrorCode.FileNotFound}:`);
  });

  it("a schema file that is a FIFO or a folder is ONEX_E_FILE_UNREADABLE at once (a FIFO hung generate; a folder was called missing)", async () => {
    for (const make of [(path: string) => execFileSync("mkfifo", [path]), (path: string) => mkdirSync(path)]) {
      const { schemas, out } = await copySchemas();
      const file = join(schemas, "v0.2", "messages", "agent-started.yaml");
      rmSync(file);
      make(file);
      const error = await generate({ schemasDir: schemas, outDir: out, check: true }).then(
        () => undefined,
        (e: unknown) => e as OnexError,
      );
      expect(error?.code).toBe(ErrorCode.FileUnreadable);
      expect(error?.message).toMatch(/agent-started\.yaml: (it is not a regular file|EISDIR)/);
    }
  });

  it("an unknown flag is a usage error (exit 2)", () => {
    const result = runCli(["generate", "--no-such-flag"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`error ${ErrorCode.Usage}:`);
  });
});
