// The AsyncAPI document of every bundled version, read by the official @asyncapi/parser with
// its default rule set (the spec's own rules): no error, no warning. The examples it carries
// must be messages the generated SDK of that version accepts.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Parser, type AsyncAPIDocumentInterface } from "@asyncapi/parser";
import { Ajv as Ajv07 } from "ajv";
import { parse as parseYaml } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { asyncApiDocument, formatAsyncApi } from "../../generator/asyncapi/asyncapi-document.js";
import { versionAsyncApi } from "../../generator/asyncapi/version-asyncapi.js";
import { buildReferenceSite } from "../../generator/reference-site/build-site.js";
import { versionsIn } from "../../generator/diff/diff-versions.js";
import { loadVersion } from "../../generator/load-version.js";
import { ErrorCode, type OnexError } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, editFile, PROJECT_ROOT, removeTempDirs } from "../support/temp-schemas.js";
import { BUNDLED_VERSION_FOLDERS, BUNDLED_VERSIONS } from "../support/bundled-versions.js";

afterAll(removeTempDirs);

const SCHEMAS = join(PROJECT_ROOT, "schemas");
/** The generated SDK of every bundled version, which must accept the examples of its document. */
const SDKS: Record<string, { parseMessage(input: object): { type: string } }> = Object.fromEntries(
  await Promise.all(BUNDLED_VERSIONS.map(async (v) => [v, await import(pathToFileURL(join(PROJECT_ROOT, "generated", `v${v}`, "index.ts")).href)])),
);
/** @stoplight/types DiagnosticSeverity: 0 error, 1 warning, 2 information, 3 hint. */
const WARNING = 1;
/**
 * The one information-level notice expected: the parser recommends AsyncAPI 3.1.0, and the
 * document is 3.0.0 on purpose (the version the issue asks for and Modelina reads).
 */
const EXPECTED_NOTICES = ["asyncapi-latest-version"];

const versions = await versionsIn(SCHEMAS);

describe("every bundled version", () => {
  it("is found (a test over no versions would prove nothing)", () => {
    expect(versions).toEqual(BUNDLED_VERSIONS);
    expect(versions.length).toBeGreaterThanOrEqual(3);
  });

  for (const version of versions) {
    describe(`v${version}`, async () => {
      const { model } = await loadVersion(SCHEMAS, `v${version}`, PROJECT_ROOT);
      const yamlText = await versionAsyncApi(SCHEMAS, version, "yaml");
      const jsonText = await versionAsyncApi(SCHEMAS, version, "json");

      for (const [format, text] of [["yaml", yamlText], ["json", jsonText]] as const) {
        it(`parses as ${format} with no error or warning`, async () => {
          const { document, diagnostics } = await new Parser().parse(text);
          const problems = diagnostics.filter((d) => d.severity <= WARNING).map((d) => `${d.code} at ${d.path.join("/")}: ${d.message}`);
          expect(problems).toEqual([]);
          expect(diagnostics.map((d) => String(d.code)).filter((code) => !EXPECTED_NOTICES.includes(code))).toEqual([]);
          expect(document).toBeDefined();
        });
      }

      it("says the same thing in YAML and JSON, to YAML 1.1 readers too", () => {
        expect(parseYaml(yamlText)).toEqual(JSON.parse(jsonText));
        // A 1.1 reader (PyYAML, Go's yaml.v2, SnakeYAML) made the examples' `time` a date.
        expect(parseYaml(yamlText, { version: "1.1" })).toEqual(JSON.parse(jsonText));
      });

      it("is byte-for-byte the same on every run", async () => {
        expect(await versionAsyncApi(SCHEMAS, version, "yaml")).toBe(yamlText);
        expect(formatAsyncApi(asyncApiDocument(model), "yaml")).toBe(yamlText);
      });

      it("has a channel per subject template, a message per type, a send and a receive operation", async () => {
        const { document } = await new Parser().parse(yamlText);
        const doc = document as AsyncAPIDocumentInterface;
        expect(doc.version()).toBe("3.0.0");
        expect(doc.info().version()).toBe(version);
        for (const entry of model.changelog) expect(doc.info().description()).toContain(entry.change);
        expect(doc.channels().all().map((c) => c.address())).toEqual(model.subjects.map((s) => s.template));
        expect(
          doc
            .allMessages()
            .all()
            .map((m) => m.name())
            .sort(),
        ).toEqual(model.messages.map((m) => m.type).sort());
        expect(doc.operations().all().map((o) => `${o.action()} ${o.channels().all()[0]!.address()}`)).toEqual(
          model.subjects.flatMap((s) => [`send ${s.template}`, `receive ${s.template}`]),
        );
        expect(doc.servers().all()[0]!.protocol()).toBe("nats");
      });

      it("describes each subject parameter's source field and token encoding", async () => {
        const { document } = await new Parser().parse(yamlText);
        const channel = document!.channels().all()[0]!;
        const zone = channel.parameters().get("zone_id")!;
        expect(zone.location()).toMatch(/^\$message\.payload#\/(source\/)?zone$/);
        expect(zone.description()).toContain("`zone.trusted.org` travels as `zone~2Etrusted~2Eorg`");
        expect(channel.description()).toContain("jetstream.onex.zone.zone~2Etrusted~2Eorg.");
      });

      it("gives every message its headers, the signature trait and an example the generated SDK accepts", async () => {
        const { document } = await new Parser().parse(yamlText);
        for (const message of document!.allMessages().all()) {
          const headers = message.headers()!.json() as { properties: Record<string, { const?: string }> };
          expect(Object.keys(headers.properties)).toEqual(["Nats-Msg-Id", "Onex-Type", "Onex-Version"]);
          expect(headers.properties["Onex-Type"]!.const).toBe(message.name());
          expect(message.traits().all().map((t) => t.description())[0]).toContain("trust.signature");
          const [example] = message.examples().all();
          const payload = example!.payload() as { type: string; id: string };
          expect(example!.headers()).toMatchObject({ "Nats-Msg-Id": payload.id, "Onex-Type": message.name() });
          // The generated SDK validates against the JSON Schema 2020-12 originals.
          expect(SDKS[version]!.parseMessage(payload).type).toBe(message.name());
        }
      });
    });
  }
});

describe("schemas AsyncAPI cannot express", () => {
  it("are refused with ONEX_E_ASYNCAPI_UNSUPPORTED naming the schema and keyword, not dropped", async () => {
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "messages", "node-register.yaml"), (text) =>
      text.replace("  capabilities:\n    type: array\n", "  capabilities:\n    type: array\n    prefixItems: [{ type: string }]\n"),
    );
    await expect(versionAsyncApi(schemas, "v0.2", "yaml")).rejects.toMatchObject({
      code: ErrorCode.AsyncApiUnsupported,
      message: expect.stringContaining('NodeRegisterPayload/properties/capabilities uses "prefixItems"'),
    });
  });

  it("refuses the other keywords with no draft-07 equivalent the same way, and the CLI exits 3", async () => {
    const keywords: Record<string, string> = {
      unevaluatedItems: "    unevaluatedItems: false\n",
      minContains: "    contains: { type: string }\n    minContains: 2\n",
      $dynamicRef: "    $dynamicRef: '#'\n",
    };
    for (const [keyword, lines] of Object.entries(keywords)) {
      const { schemas } = await copySchemas();
      await editFile(join(schemas, "v0.2", "messages", "node-register.yaml"), (text) => text.replace("  capabilities:\n    type: array\n", `  capabilities:\n    type: array\n${lines}`));
      const error = await versionAsyncApi(schemas, "v0.2", "yaml").then(() => undefined, (e: OnexError) => e);
      expect([keyword, error?.code, error?.message.includes(`uses "${keyword}"`)]).toEqual([keyword, ErrorCode.AsyncApiUnsupported, true]);
    }
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "messages", "node-register.yaml"), (text) => text.replace("additionalProperties: false\n", "unevaluatedProperties: false\n"));
    const cli = runCli(["asyncapi", "v0.2", "--schemas", schemas]);
    expect([cli.status, cli.stderr]).toEqual([3, expect.stringContaining(`error ${ErrorCode.AsyncApiUnsupported}:`)]);
    expect(cli.stderr).toContain('uses "unevaluatedProperties"');
  });

  it("refuse a $ref or << key as a property name or inside data, which AsyncAPI readers would follow or merge", async () => {
    const cases: Record<string, string> = {
      "a property named $ref": '  $ref:\n    type: string\n',
      "a property named <<": '  "<<":\n    not:\n      type: number\n',
      "a const with a $ref member": "  link:\n    type: object\n    const: { $ref: 'https://attacker.example/x.json' }\n",
      "examples with a << member": "  link:\n    type: object\n    examples: [{ '<<': { a: 1 } }]\n",
    };
    for (const [what, lines] of Object.entries(cases)) {
      const { schemas } = await copySchemas();
      await editFile(join(schemas, "v0.2", "messages", "agent-started.yaml"), (text) => `${text}${lines}`);
      const error = await versionAsyncApi(schemas, "v0.2", "yaml").then(() => undefined, (e: OnexError) => e);
      expect([what, error?.code, error?.message]).toEqual([what, ErrorCode.AsyncApiUnsupported, expect.stringMatching(/^AgentStartedPayload\/properties\/.* uses "(\$ref|<<)" as .*; rename it$/)]);
    }
  });

  it("refuse a key that is no JSON Schema keyword, which AsyncAPI readers would take for their own (a link, an extension), as onex generate does", async () => {
    const cases: Record<string, string> = {
      // The AsyncAPI Schema Object's externalDocs: renderers show its url as a link.
      externalDocs: "    externalDocs: { url: 'javascript:alert(document.domain)', description: Runbook }\n",
      // An extension the parser, renderers and code generators read as theirs.
      "x-parser-schema-id": "    x-parser-schema-id: Trust\n",
    };
    for (const [keyword, lines] of Object.entries(cases)) {
      const { schemas } = await copySchemas();
      await editFile(join(schemas, "v0.2", "messages", "agent-started.yaml"), (text) => text.replace("  node_id:\n    type: string\n", `  node_id:\n    type: string\n${lines}`));
      const error = await versionAsyncApi(schemas, "v0.2", "yaml").then(() => undefined, (e: OnexError) => e);
      expect([keyword, error?.code, error?.message]).toEqual([keyword, ErrorCode.SchemaInvalid, `AgentStartedPayload/properties/node_id uses "${keyword}", which is no JSON Schema 2020-12 keyword (onex generate refuses it as unknown); AsyncAPI readers would take it for their own, so it is not handed on: remove it, or say it in "description"`]);
      // The site carries the same document, and is refused the same way.
      await expect(buildReferenceSite(schemas)).rejects.toMatchObject({ code: ErrorCode.SchemaInvalid });
    }
  });

  it("translate dependentRequired to draft-07 dependencies rather than lose it", async () => {
    const text = await versionAsyncApi(SCHEMAS, "v0.2", "json");
    const doc = JSON.parse(text) as { components: { schemas: Record<string, Record<string, unknown>> } };
    expect(doc.components.schemas.ArtifactRequestPayload!.dependencies).toEqual({ name: ["version"], version: ["name"] });
    expect(text).not.toContain("dependentRequired");
  });
});

describe("strings YAML 1.1 reads as other values", () => {
  it("are quoted, so an enum of yes and no stays an enum of strings and a field named on keeps its name, for every YAML reader", async () => {
    const values = ["yes", "no", "on", "off", "y", "1:20", "0755", "0b101", "1_000", "2001-12-14", ".NaN"];
    const { schemas } = await copySchemas();
    await editFile(join(schemas, "v0.2", "messages", "agent-started.yaml"), (text) => `${text}  answer:\n    type: string\n    enum: ${JSON.stringify(values)}\n    default: "no"\n  "on":\n    type: boolean\n`);
    const text = await versionAsyncApi(schemas, "v0.2", "yaml");
    const payload = (doc: unknown) => (doc as { components: { schemas: { AgentStartedPayload: { properties: Record<string, unknown> } } } }).components.schemas.AgentStartedPayload.properties;
    for (const doc of [parseYaml(text), parseYaml(text, { version: "1.1" })]) {
      expect(payload(doc).answer).toEqual({ title: "AgentStartedPayloadAnswer", type: "string", enum: values, default: "no" });
      expect(Object.keys(payload(doc))).toContain("on");
    }
  });
});

describe("keywords draft-07 has one of", () => {
  const AGENT_STARTED = (schemas: string) => join(schemas, "v0.2", "messages", "agent-started.yaml");
  /** The AgentStartedPayload schema of the document, as a draft-07 validator (what AsyncAPI tools validate with). */
  const payloadValidator = async (schemas: string) => {
    const doc = JSON.parse(await versionAsyncApi(schemas, "v0.2", "json")) as { components: { schemas: Record<string, object> } };
    return new Ajv07({ strict: false }).compile(doc.components.schemas.AgentStartedPayload!);
  };

  it("keep every constraint when dependentRequired, dependentSchemas and dependencies name one property", async () => {
    const { schemas } = await copySchemas();
    await editFile(AGENT_STARTED(schemas), (text) =>
      text.replace("properties:\n", "dependentRequired: { reason: [code] }\ndependentSchemas: { reason: { required: [detail] } }\ndependencies: { reason: [hint] }\nproperties:\n") +
      "  reason: { type: string }\n  code: { type: string }\n  detail: { type: string }\n  hint: { type: string }\n",
    );
    const validate = await payloadValidator(schemas);
    const started = { agent_id: "a", node_id: "n", capabilities: [] };
    expect(validate({ ...started, reason: "r", code: "c", detail: "d", hint: "h" })).toBe(true);
    // The 2020-12 schema refuses each of these; a document keeping only the last keyword accepted two of them.
    expect([validate({ ...started, reason: "r", detail: "d", hint: "h" }), validate({ ...started, reason: "r", code: "c", hint: "h" }), validate({ ...started, reason: "r", code: "c", detail: "d" })]).toEqual([false, false, false]);
  });

  it("refuse one name under both $defs and definitions, where a $ref could reach the other schema", async () => {
    const { schemas } = await copySchemas();
    await editFile(AGENT_STARTED(schemas), (text) =>
      text.replace("properties:\n", "$defs: { id: { type: string } }\ndefinitions: { id: { type: integer } }\nproperties:\n").replace("  agent_id:\n    type: string\n    minLength: 1\n", "  agent_id:\n    $ref: '#/$defs/id'\n"),
    );
    await expect(versionAsyncApi(schemas, "v0.2", "yaml")).rejects.toMatchObject({
      code: ErrorCode.AsyncApiUnsupported,
      message: 'AgentStartedPayload/ defines "id" under both $defs and definitions; draft-07 has only definitions, so one would replace the other and a $ref to it could reach the wrong schema: rename one',
    });
  });
});

describe("an unknown version", () => {
  it("is ONEX_E_UNKNOWN_VERSION naming the known ones", async () => {
    await expect(versionAsyncApi(SCHEMAS, "v9.9", "yaml")).rejects.toMatchObject({ code: ErrorCode.UnknownVersion, message: expect.stringContaining(`(known: ${BUNDLED_VERSION_FOLDERS.join(", ")})`) });
  });
});
