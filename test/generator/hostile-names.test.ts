/**
 * Names that would clash (issue 13, items 4 and 5): a manifest of hostile names is generated
 * into a temp folder and the output type-checked with tsc (strict) and run. Names of
 * TypeScript globals and of the runtime (`Object`, `Partial`, `T`, `OnexMessage`) compile;
 * names the SDK defines itself, and envelope fields named after a message's members, are
 * refused at their line with ONEX_E_RESERVED_NAME. Local `$defs` and nested objects get names
 * from their path, never numbered, and one payload file may serve several message types.
 */
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { generate } from "../../generator/generate.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { PROJECT_ROOT, removeTempDirs, tempDir } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

/** Message names that are TypeScript globals, or names the generated modules and the runtime use. */
const HOSTILE_MESSAGES = ["T", "Partial", "Objects", "OnexMessage", "Omit", "Pick", "Array", "Promise", "JSON", "Math", "Error", "StandaloneValidator", "MessageInput", "Symbol"];
const HOSTILE_RECORDS = ["Object", "String", "Number", "Record", "Boolean", "Date", "Trust"];

interface Layout {
  messages: { name: string; type: string; payload: string }[];
  records: string[];
  files: Record<string, string>;
  envelopeExtra?: string;
}

const ENVELOPE = (extra: string) => `type: object
additionalProperties: false
required: [type, id, protocol, source, payload]
properties:
  type: { type: string }
  id: { type: string, format: uuid }
  protocol:
    type: object
    additionalProperties: false
    required: [version]
    properties:
      version: { const: "0.1" }
      compatible_with: { type: array, items: { type: string } }
      declared_by: { type: string }
      schema_manifest_url: { type: string }
  source:
    type: object
    additionalProperties: false
    required: [zone, default]
    properties:
      zone: { type: string, minLength: 1 }
      default: { type: string, minLength: 1 }
  payload: { type: object }
${extra}`;

/** A payload whose property names are keywords and Object.prototype members, with a nested object and a local $defs entry. */
const HOSTILE_PAYLOAD = `type: object
additionalProperties: false
required: [class]
properties:
  class: { type: string, default: "x", maxLength: 8 }
  constructor: { type: integer, minimum: 0 }
  toString: { type: boolean }
  my-field: { type: string, format: date-time }
  retry:
    type: object
    properties:
      max_attempts: { type: integer, default: 3 }
  trust: { $ref: "#/$defs/trust" }
$defs:
  trust:
    type: object
    properties:
      level: { enum: [low, high] }
`;

async function writeLayout(layout: Layout): Promise<{ root: string; schemas: string; out: string }> {
  const root = await tempDir("onex-hostile-");
  const schemas = join(root, "schemas");
  const manifest = `version: "0.1"
compatible_with: []
declared_by: hostile
schema_manifest_url: https://example.org/schemas/v0.1/manifest.yaml
changelog: []
envelope: envelope.yaml
auto:
  id: uuid
  protocol: protocol
subjects:
  event:
    template: "hostile.{zone}.{default}.events"
    params:
      zone: /source/zone
      default: /source/default
records:
${layout.records.map((r) => `  ${r}: records/${r.toLowerCase()}.yaml`).join("\n") || "  {}"}
messages:
${layout.messages.map((m) => `  - type: ${m.type}\n    name: ${m.name}\n    payload: ${m.payload}\n    subject: event`).join("\n")}
`;
  const files: Record<string, string> = {
    "manifest.yaml": manifest.replace("records:\n  {}", "records: {}"),
    "envelope.yaml": ENVELOPE(layout.envelopeExtra ?? ""),
    ...Object.fromEntries(layout.records.map((r) => [`records/${r.toLowerCase()}.yaml`, `type: object\nproperties:\n  value: { type: string }\n`])),
    ...layout.files,
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(schemas, "v0.1", path)), { recursive: true });
    await writeFile(join(schemas, "v0.1", path), text);
  }
  return { root, schemas, out: join(root, "generated") };
}

const hostileLayout = (): Layout => ({
  messages: [
    ...HOSTILE_MESSAGES.map((name) => ({ name, type: `event.hostile.${name.toLowerCase()}`, payload: `messages/${name.toLowerCase()}.yaml` })),
    // One payload file serving two more message types.
    { name: "Ping", type: "signal.shared.ping", payload: "messages/shared.yaml" },
    { name: "Pong", type: "signal.shared.pong", payload: "messages/shared.yaml" },
  ],
  records: HOSTILE_RECORDS,
  files: {
    ...Object.fromEntries(HOSTILE_MESSAGES.map((name) => [`messages/${name.toLowerCase()}.yaml`, HOSTILE_PAYLOAD])),
    "messages/shared.yaml": `type: object\nrequired: [seq]\nproperties:\n  seq: { type: integer }\n  point: { $ref: "#/$defs/point" }\n$defs:\n  point:\n    type: object\n    properties:\n      x: { type: number }\n`,
  },
});

const CONSUMER = `
import * as sdk from "./generated/v0.1/index.js";

const source = { zone: "z", default: "d" };
const payload = { class: "c", constructor: 1, toString: true, "my-field": "2030-01-01T00:00:00Z", retry: { max_attempts: 2 }, trust: { level: "high" as const } };
const o: sdk.Objects = sdk.Objects.create({ source, payload });
const objectRecord: sdk.Object = { value: "v" };
const t: sdk.T = sdk.T.create({ source, payload });
const p: sdk.Partial = sdk.Partial.create({ source, payload });
const m: sdk.OnexMessage = sdk.OnexMessage.create({ source, payload });
const ping = sdk.Ping.create({ source, payload: { seq: 1, point: { x: 1 } } });
const pong = sdk.Pong.create({ source, payload: { seq: 2 } });
const shared: sdk.PingPayload = pong.payload;
const point: sdk.PingPayloadPoint | undefined = ping.payload.point;
const retry: sdk.ObjectsPayloadRetry | undefined = o.payload.retry;
const trust: sdk.ObjectsPayloadTrust | undefined = o.payload.trust;
const record: sdk.Trust = { value: "v" };
const any: sdk.AnyMessage = sdk.parseMessage(t.encode());
const data: sdk.AnyMessageData = any.toJSON() as unknown as sdk.AnyMessageData;
const type: sdk.MessageType = data.type;
const guarded: unknown = p.toJSON();
if (sdk.validators.Partial(guarded)) {
  const cls: string = guarded.payload.class;
  void cls;
}
// @ts-expect-error a field the payload does not have
sdk.Math.create({ source, payload: { ...payload, nope: 1 } });
export const results = [o.subject(), t.type, p.type, m.type, shared.seq, point?.x, retry?.max_attempts, trust?.level, record.value, objectRecord.value, type, ping.type, pong.type];
`;

describe("hostile names", () => {
  it("globals and runtime names compile and run: the output type-checks under tsc --strict", async () => {
    const { root, schemas, out } = await writeLayout(hostileLayout());
    await generate({ schemasDir: schemas, outDir: out, runtimeImport: "@onex/runtime/codegen-v1" });
    const types = await readFile(join(out, "v0.1", "types.ts"), "utf8");
    const names = [...types.matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]!);
    expect(names.filter((n) => /\d$/.test(n))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(["ObjectsPayloadRetry", "ObjectsPayloadTrust", "Object", "PingPayloadPoint", "Trust", "PingPayload"]));
    expect(names).not.toContain("PongPayload");

    await writeFile(join(root, "consumer.ts"), CONSUMER);
    await writeFile(
      join(root, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", skipLibCheck: true,
          noUncheckedIndexedAccess: true, types: ["node"], typeRoots: [join(PROJECT_ROOT, "node_modules", "@types")],
          paths: { "@onex/runtime/codegen-v1": [join(PROJECT_ROOT, "runtime", "codegen-v1.ts")] },
        },
        include: ["consumer.ts", "generated"],
      }),
    );
    const tsc = join(PROJECT_ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", root], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);

    const sdk = (await import(pathToFileURL(join(out, "v0.1", "index.ts")).href)) as Record<string, { create(fields: object): { type: string; subject(): string; payload: Record<string, unknown> } }>;
    const payload = JSON.parse(`{"class": "c", "constructor": 1, "toString": true}`) as object;
    const made = sdk.Objects!.create({ source: { zone: "z.a", default: "d" }, payload });
    expect(made.type).toBe("event.hostile.objects");
    expect(made.subject()).toBe("hostile.z~2Ea.d.events");
    expect(made.payload.constructor).toBe(1);
    expect(Object.keys(sdk)).toEqual(expect.arrayContaining([...HOSTILE_MESSAGES, "Ping", "Pong"]));
  }, 120_000);

  it("doc comments carry defaults, formats and bounds", async () => {
    const { schemas, out } = await writeLayout(hostileLayout());
    await generate({ schemasDir: schemas, outDir: out });
    const types = await readFile(join(out, "v0.1", "types.ts"), "utf8");
    expect(types).toContain("@default x");
    expect(types).toContain("@maxLength 8");
    expect(types).toContain("@minimum 0");
    expect(types).toContain("@format date-time");
    expect(types).toContain("@default 3");
  });

  const refused: [string, Partial<Layout>, string][] = [
    ["a message named MessageType", { messages: [{ name: "MessageType", type: "event.a.b", payload: "messages/p.yaml" }] }, "name: MessageType"],
    ["a message named Object (TypeScript allows no class of that name)", { messages: [{ name: "Object", type: "event.a.b", payload: "messages/p.yaml" }] }, "name: Object"],
    ["a message named AnyMessage", { messages: [{ name: "AnyMessage", type: "event.a.b", payload: "messages/p.yaml" }] }, "name: AnyMessage"],
    ["a record named AnyMessageData", { records: ["AnyMessageData"] }, "AnyMessageData: records"],
    ["a record named EventSubjectParts", { records: ["EventSubjectParts"] }, "EventSubjectParts: records"],
    ["a message whose Init type is another message", { messages: [{ name: "Ab", type: "event.a.b", payload: "messages/p.yaml" }, { name: "AbInit", type: "event.a.c", payload: "messages/p.yaml" }] }, "name: AbInit"],
  ];
  for (const [what, layout, needle] of refused) {
    it(`${what} is refused at its manifest line`, async () => {
      const { schemas, out } = await writeLayout({ messages: [{ name: "Ab", type: "event.a.b", payload: "messages/p.yaml" }], records: [], files: { "messages/p.yaml": "type: object\n" }, ...layout });
      const error = await generate({ schemasDir: schemas, outDir: out }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(OnexError);
      const manifest = await readFile(join(schemas, "v0.1", "manifest.yaml"), "utf8");
      const line = manifest.slice(0, manifest.indexOf(needle)).split("\n").length;
      const problems = (error as OnexError).details.problems as { code: string; file: string; line: number }[];
      expect(problems.map((p) => [p.code, p.file, p.line])).toContainEqual([what.includes("Init") ? ErrorCode.DuplicateName : ErrorCode.ReservedName, "schemas/v0.1/manifest.yaml", line]);
    });
  }

  for (const field of ["subject", "encode", "toJSON", "constructor"]) {
    it(`an envelope field named ${field} is refused at its line in the envelope`, async () => {
      const { schemas, out } = await writeLayout({
        messages: [{ name: "Ab", type: "event.a.b", payload: "messages/p.yaml" }],
        records: [],
        files: { "messages/p.yaml": "type: object\n" },
        envelopeExtra: `  ${field}: { type: string }\n`,
      });
      const error = await generate({ schemasDir: schemas, outDir: out }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(OnexError);
      const envelope = await readFile(join(schemas, "v0.1", "envelope.yaml"), "utf8");
      const line = envelope.slice(0, envelope.indexOf(`  ${field}:`)).split("\n").length;
      expect((error as OnexError).code).toBe(ErrorCode.ReservedName);
      expect((error as OnexError).details).toMatchObject({ file: "schemas/v0.1/envelope.yaml", line });
    });
  }

  it("two messages with one name are one problem, not one for each type the name makes (Payload, Init, Data)", async () => {
    const { schemas, out } = await writeLayout({
      messages: [
        { name: "Ab", type: "event.a.b", payload: "messages/p.yaml" },
        { name: "Ab", type: "event.a.c", payload: "messages/p.yaml" },
      ],
      records: [],
      files: { "messages/p.yaml": "type: object\n" },
    });
    const error = await generate({ schemasDir: schemas, outDir: out }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(OnexError);
    const problems = ((error as OnexError).details.problems ?? [(error as OnexError).details]) as { code: string; name: string }[];
    expect(problems.map((p) => [p.code, p.name])).toEqual([[ErrorCode.DuplicateName, "Ab"]]);
  });

  it("a path name that equals another name is ONEX_E_DUPLICATE_NAME, never a numbered type", async () => {
    const { schemas, out } = await writeLayout({
      messages: [{ name: "Ab", type: "event.a.b", payload: "messages/p.yaml" }],
      records: ["AbPayloadRetry"],
      files: { "messages/p.yaml": "type: object\nproperties:\n  retry:\n    type: object\n    properties:\n      n: { type: integer }\n" },
    });
    await expect(generate({ schemasDir: schemas, outDir: out })).rejects.toMatchObject({ code: ErrorCode.DuplicateName, details: { name: "AbPayloadRetry" } });
  });
});
