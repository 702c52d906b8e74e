import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Flags } from "@oclif/core";
import { ErrorCode, OnexError } from "@onex/runtime";
import { isWithin, realPathOf } from "../../generator/path-within.js";
import { beforeWriting, removeStagedTemporaries } from "../../generator/writer.js";
import { OnexCommand } from "../base-command.js";
import { removeOnExit } from "../output-file.js";
import { schemasDirOf } from "../sdk.js";
import { schemasFlag } from "../sdk-flags.js";

export default class Docs extends OnexCommand {
  protected override readonly readsSchemas = true;

  static override summary = "Write the protocol reference site (static HTML) for every version.";
  static override description = [
    "Writes a self-contained reference site: an index, a page per protocol version (message types with every field, records,",
    "subjects with a worked example, changelog, the transform from the previous version and the `onex diff` report with its",
    "verdicts) and a page per message type linking to the same type in other versions, with a search box over types and",
    "fields. Plain files with relative links: open index.html from disk, no server or network needed. Rendered with the",
    "Handlebars templates in templates/reference-site/, which --templates overrides file by file. See docs/asyncapi.md.",
    "",
    "Files it wrote before are rewritten when they change; a file it did not write is replaced only with --force.",
    "",
    "Exit codes: 0 written; 2 usage (--out inside the schemas folder), or a file onex docs did not write is in the way (ONEX_E_FILE_EXISTS); 3 a manifest, schema,",
    "transform or template is broken; 73 a file cannot be written; 130, 143, 129 stopped by SIGINT, SIGTERM, SIGHUP (the files",
    "being written when it came are all in place first, and no temporary is left).",
  ].join("\n");
  static override examples = ["<%= config.bin %> docs --out site", "<%= config.bin %> docs --out site --templates my-templates"];

  static override flags = {
    out: Flags.string({ description: "Folder the site is written to.", required: true }),
    schemas: schemasFlag,
    templates: Flags.string({ description: "Folder whose reference-site/*.hbs templates override the bundled ones." }),
    force: Flags.boolean({ description: "Replace files at the site's paths that onex docs did not write.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Docs);
    const schemasDir = schemasDirOf(flags.schemas);
    // Even with --force, as for generate and asyncapi: the site's pages went into the version folders, among the sources of the protocol, and --force would replace a source at a page's path.
    if (isWithin(realPathOf(resolve(flags.out)), realPathOf(schemasDir))) {
      throw new OnexError(ErrorCode.Usage, `--out ${flags.out} is inside the schemas folder ${schemasDir}, whose files it could replace: write the site beside it`, { file: flags.out, schemas: schemasDir });
    }
    // Ctrl-C, a kill or a closed terminal while the files are written ends the run with 128 + the
    // signal's number once they are all in place, never half-way (see applyOutput), no temporary left.
    beforeWriting(() => removeOnExit(removeStagedTemporaries));
    // The generator (json-schema-to-typescript, Handlebars) loads only for the commands that use it.
    const { writeReferenceSite } = await import("../../generator/reference-site/build-site.js");
    const result = await writeReferenceSite({ schemasDir, outDir: flags.out, force: flags.force, ...(flags.templates ? { templatesDir: flags.templates } : {}) });
    for (const d of result.differences) this.log(`wrote   ${join(flags.out, d.file)}`);
    const versions = result.versions.map((v) => `v${v}`).join(", ");
    this.logToStderr(`reference site for ${versions}: ${result.files.size} files, ${result.differences.length} changed; open ${pathToFileURL(join(flags.out, "index.html")).href}`);
  }
}
