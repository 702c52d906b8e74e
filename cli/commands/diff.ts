import { dirname, resolve } from "node:path";
import { Args, Flags } from "@oclif/core";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import { formatReport } from "../../generator/diff/report.js";
import { ErrorCode, OnexError } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { reportingEachProblem } from "../problem-lines.js";

export default class Diff extends OnexCommand {
  static override summary = "Report the breaking changes between two protocol versions.";
  static override description = [
    "Compares the resolved JSON Schemas of every message type of <old> and <new> (envelope and records included) and classifies",
    "each change as Confluent's JSON Schema checker does, open and closed content models included: whether it breaks BACKWARD",
    "(new readers, old data) or FORWARD (old readers, new data) compatibility. Gives each type a verdict (FULL, BACKWARD, FORWARD,",
    "NONE) and names the lens of the transform file that covers each breaking change. Versions further apart are diffed directly,",
    "with coverage judged per adjacent hop. See docs/transforms.md, \"Breaking changes and onex diff\".",
    "",
    "Exit codes: 0 every breaking change is covered by a transform; 1 one is not (ONEX_E_BREAKING_CHANGE);",
    "2 usage (unknown version, versions in the wrong order); 3 a manifest, schema or transform file is broken.",
  ].join("\n");
  static override examples = ["<%= config.bin %> diff v0.1 v0.2", "<%= config.bin %> diff 0.0.9 0.2 --json"];

  static override args = {
    old: Args.string({ description: "Older version, as v0.1 or 0.1.", required: true }),
    new: Args.string({ description: "Newer version, as v0.2 or 0.2.", required: true }),
  };

  static override flags = {
    json: Flags.boolean({ description: "Print the report as JSON.", default: false }),
    schemas: Flags.string({ description: "Schemas folder holding the versions and their transforms.", default: "schemas" }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Diff);
    const schemasDir = resolve(flags.schemas);
    const report = await reportingEachProblem((line) => this.logToStderr(line), () => diffVersions(schemasDir, args.old, args.new, dirname(schemasDir)));
    process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + "\n" : formatReport(report));
    if (report.summary.uncovered > 0) {
      const uncovered = [report, ...(report.hops ?? [])]
        .filter((r) => r.coverage === "direct")
        .flatMap((r) => r.types.flatMap((t) => t.changes.filter((c) => c.breaking && c.coveredBy?.length === 0).map((c) => `${t.type} ${c.path || "(message)"} (${c.kind}, v${r.from} -> v${r.to})`)));
      throw new OnexError(
        ErrorCode.BreakingChange,
        `${report.summary.uncovered} breaking change${report.summary.uncovered === 1 ? "" : "s"} between v${report.from} and v${report.to} no transform covers: ${uncovered.join("; ")}. Add a lens for the path to the transform file, or make the change compatible.`,
        { from: report.from, to: report.to, uncovered },
      );
    }
  }
}
