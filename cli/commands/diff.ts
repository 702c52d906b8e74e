import { dirname } from "node:path";
import { Args, Flags } from "@oclif/core";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import type { DiffReport } from "../../generator/diff/report.js";
import { requireVersionsIn } from "../../generator/protocol-versions.js";
import { formatReport } from "../../generator/diff/report.js";
import { ErrorCode, OnexError } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { reportingEachProblem } from "../problem-lines.js";
import { schemasDirOf } from "../sdk.js";
import { schemasFlag } from "../sdk-flags.js";

export default class Diff extends OnexCommand {
  protected override readonly readsSchemas = true;

  static override summary = "Report the breaking changes between two protocol versions.";
  static override description = [
    "Compares the resolved JSON Schemas of every message type of <old> and <new> (envelope and records included) and classifies",
    "each change as Confluent's JSON Schema checker does, open and closed content models included: whether it breaks BACKWARD",
    "(new readers, old data) or FORWARD (old readers, new data) compatibility. Gives each type a verdict (FULL, BACKWARD, FORWARD,",
    "NONE) and names the lens of the transform file that covers each breaking change. Versions further apart are diffed directly,",
    "with coverage judged per adjacent hop. With no versions (or --all), every adjacent pair of the schemas folder is diffed in turn,",
    "oldest first, and the command fails if any of them has an uncovered breaking change. Reads the schemas, not the generated SDK.",
    "See docs/transforms.md, \"Breaking changes and onex diff\".",
    "",
    "Exit codes: 0 every breaking change is covered by a transform; 1 one is not (ONEX_E_BREAKING_CHANGE);",
    "2 usage (unknown version, versions in the wrong order); 3 a manifest, schema or transform file is broken.",
  ].join("\n");
  static override examples = ["<%= config.bin %> diff v0.1 v0.2", "<%= config.bin %> diff 0.0.9 0.2 --json", "<%= config.bin %> diff --all"];

  static override args = {
    old: Args.string({ description: "Older version, as v0.1 or 0.1 (none: every adjacent pair)." }),
    new: Args.string({ description: "Newer version, as v0.2 or 0.2." }),
  };

  static override flags = {
    json: Flags.boolean({ description: "Print the report as JSON (with --all: one JSON array of reports).", default: false }),
    all: Flags.boolean({ description: "Diff every adjacent pair of versions of the schemas folder (what no versions does).", default: false }),
    schemas: schemasFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Diff);
    const schemasDir = schemasDirOf(flags.schemas);
    if (flags.all && (args.old !== undefined || args.new !== undefined)) throw new OnexError(ErrorCode.Usage, "onex diff takes two versions or --all, not both");
    if (args.old !== undefined && args.new === undefined) throw new OnexError(ErrorCode.Usage, `onex diff needs a newer version after v${args.old.replace(/^v/, "")} (or no versions for every adjacent pair)`);
    const pairs: [string, string][] = [];
    if (args.old !== undefined && args.new !== undefined) pairs.push([args.old, args.new]);
    else {
      const versions = await requireVersionsIn(schemasDir);
      for (let i = 1; i < versions.length; i++) pairs.push([versions[i - 1]!, versions[i]!]);
    }
    const reports: DiffReport[] = [];
    for (const [from, to] of pairs) {
      reports.push(await reportingEachProblem((line) => this.logToStderr(line), () => diffVersions(schemasDir, from, to, dirname(schemasDir))));
    }
    const single = args.old !== undefined;
    if (flags.json) process.stdout.write(JSON.stringify(single ? reports[0] : reports, null, 2) + "\n");
    else process.stdout.write(reports.map((r) => formatReport(r)).join("\n"));
    if (!single) this.logToStderr(`${pairs.length} adjacent pair(s) diffed: ${pairs.map(([a, b]) => `v${a} -> v${b}`).join(", ") || "none (one version)"}`);
    const failing = reports.filter((r) => r.summary.uncovered > 0);
    if (failing.length === 0) return;
    const uncovered = failing.flatMap((report) =>
      [report, ...(report.hops ?? [])]
        .filter((r) => r.coverage === "direct")
        .flatMap((r) => r.types.flatMap((t) => t.changes.filter((c) => c.breaking && c.coveredBy?.length === 0).map((c) => `${t.type} ${c.path || "(message)"} (${c.kind}, v${r.from} -> v${r.to})`))),
    );
    const count = failing.reduce((n, r) => n + r.summary.uncovered, 0);
    const between = failing.map((r) => `v${r.from} and v${r.to}`).join(", ");
    throw new OnexError(
      ErrorCode.BreakingChange,
      `${count} breaking change${count === 1 ? "" : "s"} between ${between} no transform covers: ${uncovered.join("; ")}. Add a lens for the path to the transform file, or make the change compatible.`,
      { from: failing[0]!.from, to: failing.at(-1)!.to, uncovered },
    );
  }
}
