import { resolve, sep } from "node:path";
import { Flags } from "@oclif/core";
import { DEFAULT_RUNTIME_IMPORT } from "../../generator/codegen-symbols.js";
import { ErrorCode, OnexError } from "@onex/runtime";
import { beforeWriting, removeStagedTemporaries } from "../../generator/writer.js";
import { OnexCommand } from "../base-command.js";
import { removeOnExit } from "../output-file.js";
import { readFailure, writeFailure } from "../file-errors.js";
import { reportingEachProblem } from "../problem-lines.js";

export default class Generate extends OnexCommand {
  protected override readonly readsSchemas = true;

  static override summary = "Generate the typed SDK from the schema manifests.";
  static override description =
    "Reads every schemas/v<version>/manifest.yaml and writes types, validators, message classes, subject builders and an index per version. With --check, compares instead of writing and exits 1 naming every stale, missing or extra file.";
  static override examples = ["<%= config.bin %> generate", "<%= config.bin %> generate --check", "<%= config.bin %> generate --templates my-templates", "<%= config.bin %> generate --asyncapi yaml"];

  static override flags = {
    schemas: Flags.string({ description: "Folder with one v<version>/ folder per protocol version.", default: "schemas" }),
    out: Flags.string({ description: "Folder the SDK is written to.", default: "generated" }),
    templates: Flags.string({ description: "Folder whose Handlebars templates override the bundled ones." }),
    "runtime-import": Flags.string({ description: "Module generated code imports the runtime from.", default: DEFAULT_RUNTIME_IMPORT }),
    check: Flags.boolean({ description: "Compare with the output folder instead of writing; exit 1 if anything differs.", default: false }),
    asyncapi: Flags.string({ description: "Also write v<version>/asyncapi.<format> per version (AsyncAPI 3.0; see onex asyncapi).", options: ["yaml", "json"] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Generate);
    // Ctrl-C, a kill or a closed terminal while the files are written ends the run with 128 + the
    // signal's number once they are all in place, never half-way (see applyOutput), no temporary left.
    beforeWriting(() => removeOnExit(removeStagedTemporaries));
    const started = performance.now();
    const result = await reportingEachProblem(
      (line) => this.logToStderr(line),
      // The generator (json-schema-to-typescript, Handlebars, ajv) loads only when a command uses it.
      async () =>
        (await import("../../generator/generate.js")).generate({
          schemasDir: flags.schemas,
          outDir: flags.out,
          runtimeImport: flags["runtime-import"],
          check: flags.check,
          ...(flags.templates ? { templatesDir: flags.templates } : {}),
          ...(flags.asyncapi ? { asyncapi: flags.asyncapi as "yaml" | "json" } : {}),
        }),
    ).catch((error: unknown) => {
      throw fileFailure(error, resolve(flags.out));
    });
    const ms = Math.round(performance.now() - started);
    const versions = result.versions.map((v) => `v${v}`).join(", ");
    // Allowed (a version may break with the one before it on purpose), but never unnoticed.
    for (const { from, to } of result.gaps) {
      this.logToStderr(`note: v${to} has no transform from v${from} (${flags.schemas}/v${to}/from-v${from}.yaml): onex migrate and a negotiation fallback cannot cross between them (ONEX_E_NO_PATH), and onex diff fails on every breaking change`);
    }
    if (flags.check) {
      if (result.differences.length > 0) {
        for (const d of result.differences) this.log(`${d.status.padEnd(7)} ${flags.out}/${d.file}`);
        throw new OnexError(
          ErrorCode.GeneratedStale,
          `${result.differences.length} generated file(s) are not current; run \`onex generate\` and commit the result`,
          { files: result.differences },
        );
      }
      this.logToStderr(`${flags.out}/ is current: ${result.files.size} files for ${versions} (${ms} ms)`);
      return;
    }
    for (const d of result.differences) this.log(`${d.status === "extra" ? "removed" : "wrote  "} ${flags.out}/${d.file}`);
    this.logToStderr(`generated ${result.files.size} files for ${versions}; ${result.differences.length} changed (${ms} ms)`);
  }
}

/** A file-system error of the generator as its ONEX_E_ code: a write failure under the output folder, else a read failure. */
function fileFailure(error: unknown, outDir: string): unknown {
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code !== "string" || typeof path !== "string") return error;
  const inOutput = resolve(path) === outDir || resolve(path).startsWith(outDir + sep);
  return inOutput ? writeFailure(error, path) : readFailure(error, path, "schema or template file");
}
