import { readFileSync } from "node:fs";
const lines = readFileSync("/tmp/prof/in.ndjson", "utf8").split("\n").slice(0, 60000).filter(Boolean);
const outLines = readFileSync("/tmp/prof/out.ndjson", "utf8").split("\n").slice(0, 60000).filter(Boolean);
const { migrate } = await import("@onex/sdk/transforms");
const t = (label: string, f: () => void) => { for (let r = 0; r < 3; r++) { const s = process.hrtime.bigint(); f(); const e = Number(process.hrtime.bigint() - s) / 1e3 / lines.length; if (r == 2) console.log(label, e.toFixed(2), "µs/msg"); } };
let parsed: any[] = [];
t("JSON.parse input", () => { parsed = lines.map((l) => JSON.parse(l)); });
t("JSON.stringify parsed input", () => { for (const p of parsed) JSON.stringify(p); });
let migrated: any[] = [];
t("migrate", () => { migrated = lines.map((l) => migrate(JSON.parse(l), "0.2", "0.1")); });
t("JSON.stringify migrated", () => { for (const p of migrated) JSON.stringify(p); });
const reparsed = outLines.map((l) => JSON.parse(l));
t("JSON.stringify reparsed output", () => { for (const p of reparsed) JSON.stringify(p); });

const fast = new Function("o", "return %HasFastProperties(o)") as (o: unknown) => boolean; console.log(fast(migrated[0]), fast(migrated[0].payload), fast(migrated[0].protocol), fast(parsed[0]), fast(migrated[3]), fast(migrated[3].payload));
