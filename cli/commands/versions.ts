import { Flags } from "@oclif/core";
import { buildOffer } from "@onex/runtime/negotiation";
import { OnexCommand } from "../base-command.js";
import { openProjectSdk } from "../sdk.js";
import { sdkFlags } from "../sdk-flags.js";

export default class Versions extends OnexCommand {
  protected override readonly readsSchemas = true;

  static override summary = "List the protocol versions of a schemas folder, their compatibility and the transform paths between them.";
  static override description =
    "Reads the SDK generated from --schemas (ONEX_E_SDK_STALE when it is not current). For each version: what it stays compatible with, its schema content hash (what peers compare when they probe), its message types, and which versions the generated adapters convert it to, with the path and the types that have no counterpart there.";
  static override examples = ["<%= config.bin %> versions", "<%= config.bin %> versions --json"];
  static override flags = {
    ...sdkFlags,
    json: Flags.boolean({ description: "Print one JSON document.", default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Versions);
    const project = await openProjectSdk(flags);
    const indexes = await project.indexes();
    const { migrationPath, versionGraph } = await project.transforms();
    const report = indexes.map((index) => {
      const offer = buildOffer({ deployment: "local", protocol: { version: index.version, compatible_with: index.compatible_with, declared_by: index.declared_by, schema_manifest_url: index.schema_manifest_url }, indexes, graph: versionGraph });
      const types = index.messages.map((m) => m.type);
      return {
        version: index.version,
        compatible_with: index.compatible_with,
        content_hash: index.content_hash,
        types,
        speaks: offer.speaks.map((v) => v.version),
        transforms: offer.converts.map(({ version: to }) => {
          const target = indexes.find((i) => i.version === to)!;
          const targetTypes = new Set(target.messages.map((m) => m.type));
          return { to, path: migrationPath(index.version, to), no_counterpart: types.filter((t) => !targetTypes.has(t)) };
        }),
      };
    });
    if (flags.json) {
      this.log(JSON.stringify({ versions: report }, null, 2));
      return;
    }
    for (const [i, v] of report.entries()) {
      const compat = v.compatible_with.length > 0 ? v.compatible_with.map((c) => `v${c}`).join(", ") : "none";
      this.log(`v${v.version}  compatible with: ${compat}  ${v.content_hash}`);
      this.log(`  ${v.types.length} message types: ${v.types.join(", ")}`);
      for (const t of v.transforms) {
        const lost = t.no_counterpart.length > 0 ? `  (no counterpart: ${t.no_counterpart.join(", ")})` : "";
        this.log(`  -> v${t.to} via ${t.path.map((p) => `v${p}`).join(" -> ")}${lost}`);
      }
      const previous = report[i - 1]?.version;
      if (previous !== undefined && !v.transforms.some((t) => t.to === previous)) this.log(`  no transform from v${previous}: nothing converts between them (onex migrate: ONEX_E_NO_PATH)`);
    }
  }
}
