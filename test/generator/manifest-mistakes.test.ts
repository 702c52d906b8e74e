/**
 * Every manifest mistake, in one run, where it is (issue 14, item 5): a table of author
 * mistakes, each applied to a fresh copy of the bundled schemas, each expected with its code
 * at the exact `file:line:column` of the offending key or value, and a message naming what is
 * wrong (and, for a misspelling, what was meant). Then several mistakes at once, reported
 * together, and the CLI's report of them.
 */
import { mkdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffVersions } from "../../generator/diff/diff-versions.js";
import { generate } from "../../generator/generate.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { runCli } from "../support/run-cli.js";
import { copySchemas, removeTempDirs } from "../support/temp-schemas.js";

afterAll(removeTempDirs);

const MANIFEST = "v0.1/manifest.yaml";
const NODE_FAILED = "v0.1/messages/node-failed.yaml";
const ENVELOPE = "v0.1/envelope.yaml";
const ADDRESS = "v0.1/records/address.yaml";

/** An edit of one file of the copy; a function of the whole copy for anything else (new files, renamed folders). */
type Edit = { file: string; edit: (text: string) => string } | { run: (schemas: string) => Promise<void> };

interface Mistake {
  what: string;
  edits: Edit[];
  code: string;
  /** The file the problem is in, relative to the schemas folder. */
  file: string;
  /** Where in that file (after the edits): the first occurrence of `needle`, plus `offset` characters; `{line: 1, column: 1}` for the file itself. */
  at: { needle: string; offset?: number } | { line: number; column: number };
  message: RegExp;
}

const replace = (file: string, from: string, to: string): Edit => ({
  file,
  edit: (t) => {
    if (!t.includes(from)) throw new Error(`${from} not in ${file}`);
    return t.replace(from, to);
  },
});
const write = (file: string, text: string): Edit => ({
  run: async (schemas) => {
    await mkdir(dirname(join(schemas, file)), { recursive: true });
    await writeFile(join(schemas, file), text);
  },
});
/** Declares `records: {Name: file}` in the v0.1 manifest. */
const declareRecord = (name: string, file: string): Edit => replace(MANIFEST, "records:\n", `records:\n  ${name}: ${file}\n`);
/** Adds a property `name: {$ref}` to the node-failed payload, so the record is used. */
const useRecord = (ref: string): Edit => replace(NODE_FAILED, "properties:\n", `properties:\n  extra:\n    $ref: ${ref}\n`);

const mistakes: Mistake[] = [
  // --- The manifest's own shape: keys.
  { what: "an unknown top-level key", edits: [replace(MANIFEST, "declared_by: onex\n", "declared_by: onex\ndescripton: the spec version\n")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "descripton:" }, message: /unknown key "descripton" in \(root\)/ },
  { what: "a misspelt required top-level key", edits: [replace(MANIFEST, "declared_by: onex", "declard_by: onex")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "declard_by:" }, message: /unknown key "declard_by" in \(root\); did you mean "declared_by"\? \("declared_by" is required and missing\)/ },
  { what: "a misspelt `payload` in a message", edits: [replace(MANIFEST, "    payload: messages/node-failed.yaml", "    paylaod: messages/node-failed.yaml")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "paylaod:" }, message: /unknown key "paylaod" in \/messages\/2; did you mean "payload"\?/ },
  { what: "a misspelt subject `template`", edits: [replace(MANIFEST, "    template: ", "    tempalte: ")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "tempalte:" }, message: /unknown key "tempalte" in \/subjects\/event; did you mean "template"\?/ },
  { what: "a misspelt changelog `why`", edits: [replace(MANIFEST, '    why: "Matches', '    wyh: "Matches')], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "wyh:" }, message: /unknown key "wyh" in \/changelog\/0; did you mean "why"\?/ },
  { what: "a required key missing", edits: [replace(MANIFEST, "    subject: event\n  - type: event.agent.started", "  - type: event.agent.started")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "- type: event.node.register", offset: 2 }, message: /\/messages\/0 is missing required key "subject"/ },
  { what: "a record name that is not a type name", edits: [replace(MANIFEST, "  Trust: records/trust.yaml", "  trust: records/trust.yaml")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "  trust: records", offset: 2 }, message: /key "trust" of \/records is not a valid name: it must match pattern/ },
  { what: "a subject name that is not an identifier", edits: [replace(MANIFEST, "subjects:\n  event:", "subjects:\n  Event-Stream:")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "Event-Stream:" }, message: /key "Event-Stream" of \/subjects is not a valid name/ },
  // --- Values.
  { what: "a value of the wrong type", edits: [replace(MANIFEST, "declared_by: onex", "declared_by: 42")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "42" }, message: /manifest \/declared_by 42 must be string/ },
  { what: "a version that is not a version", edits: [replace(MANIFEST, 'version: "0.1"', 'version: "0.1-beta"')], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: '"0.1-beta"' }, message: /manifest \/version "0\.1-beta" must match pattern/ },
  { what: "a version that does not match its folder", edits: [replace(MANIFEST, 'version: "0.1"', 'version: "0.1.1"')], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: '"0.1.1"' }, message: /version "0\.1\.1" does not match its folder v0\.1/ },
  { what: "a protocol record that pins another version than the manifest's", edits: [replace("v0.1/records/protocol.yaml", 'const: "0.1"', 'const: "0.2"')], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: '"0.1"' }, message: /the manifest says version "0\.1", but the envelope's \/protocol\/version allows only "0\.2": every message of v0\.1 would fail its own schema/ },
  { what: "a list left empty (YAML's null)", edits: [replace(MANIFEST, 'compatible_with: ["0.0.9"]', "compatible_with:")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "compatible_with:", offset: 16 }, message: /manifest \/compatible_with must be array \(it is empty: YAML reads a key with nothing after it as null; write \[\] for an empty list\)/ },
  { what: "a version listed twice in compatible_with", edits: [replace(MANIFEST, 'compatible_with: ["0.0.9"]', 'compatible_with: ["0.0.9", "0.0.9"]')], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: '"0.0.9"]' }, message: /\/compatible_with lists "0\.0\.9" twice/ },
  { what: "compatible_with naming a newer version", edits: [replace(MANIFEST, 'compatible_with: ["0.0.9"]', 'compatible_with: ["0.2"]')], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: '"0.2"]' }, message: /compatible_with names v0\.2, which is not older than v0\.1/ },
  { what: "a schema_manifest_url that is not a URL", edits: [replace(MANIFEST, "schema_manifest_url: https://onex.dev/schemas/v0.1/manifest.yaml", "schema_manifest_url: onex schemas")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "onex schemas" }, message: /manifest \/schema_manifest_url "onex schemas" must match format "uri"/ },
  { what: "a schema_manifest_url that is not http(s)", edits: [replace(MANIFEST, "schema_manifest_url: https://onex.dev/schemas/v0.1/manifest.yaml", "schema_manifest_url: \"javascript:alert(document.domain)\"")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: '"javascript:' }, message: /manifest \/schema_manifest_url "javascript:alert\(document\.domain\)" must match pattern "\^\[Hh\]\[Tt\]\[Tt\]\[Pp\]\[Ss\]\?:\/\/"/ },
  { what: "an auto kind that does not exist", edits: [replace(MANIFEST, "  time: now", "  time: later")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "later" }, message: /manifest \/auto\/time "later" must be equal to one of the allowed values \["uuid","now","protocol","version"\]/ },
  { what: "an auto field the envelope does not have", edits: [replace(MANIFEST, "  time: now", "  tiem: now")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "tiem:" }, message: /auto field "tiem" is not a property of the envelope .*\(did you mean "time"\?\)/ },
  { what: "a message type that is not event.* or signal.*", edits: [replace(MANIFEST, "- type: event.node.failed", "- type: Event.Node.Failed")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "Event.Node.Failed" }, message: /manifest \/messages\/2\/type "Event\.Node\.Failed" must match pattern/ },
  { what: "a subject param that is not a JSON Pointer", edits: [replace(MANIFEST, "zone_id: /source/zone", "zone_id: source.zone")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "source.zone" }, message: /manifest \/subjects\/event\/params\/zone_id "source\.zone" must match pattern/ },
  { what: "an empty message list", edits: [{ file: MANIFEST, edit: (t) => t.slice(0, t.indexOf("messages:")) + "messages: []\n" }], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "[]" }, message: /manifest \/messages must NOT have fewer than 1 items/ },
  { what: "an empty manifest", edits: [{ file: MANIFEST, edit: () => "# nothing yet\n" }], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { line: 1, column: 1 }, message: /the manifest is empty/ },
  // --- Names and references inside the manifest.
  { what: "two messages with one type", edits: [replace(MANIFEST, "- type: event.agent.started", "- type: event.node.register")], code: ErrorCode.DuplicateType, file: MANIFEST, at: { needle: "event.node.register\n    name: AgentStarted" }, message: /message type "event\.node\.register" is declared twice/ },
  { what: "two messages with one name", edits: [replace(MANIFEST, "name: AgentStarted", "name: NodeRegister")], code: ErrorCode.DuplicateName, file: MANIFEST, at: { needle: "NodeRegister\n    payload: messages/agent" }, message: /type name "NodeRegister" is already used at line 50/ },
  { what: "a message on an undeclared subject", edits: [replace(MANIFEST, "    payload: messages/node-failed.yaml\n    subject: event", "    payload: messages/node-failed.yaml\n    subject: events")], code: ErrorCode.SubjectUnknown, file: MANIFEST, at: { needle: "events\n  - type: signal.task" }, message: /uses subject "events", which is not declared under subjects \(did you mean "event"\?\)/ },
  { what: "two subject keys with one PascalCase form", edits: [replace(MANIFEST, "subjects:\n  event:\n", "subjects:\n  event_1:\n    template: onex.a.{zone_id}\n    params: { zone_id: /source/zone }\n  event1:\n    template: onex.b.{zone_id}\n    params: { zone_id: /source/zone }\n  event:\n")], code: ErrorCode.DuplicateName, file: MANIFEST, at: { needle: "event1:" }, message: /subject "event1" generates the same names as subject "event_1" \(buildEvent1Subject, Event1SubjectParts, the AsyncAPI operations sendEvent1 and receiveEvent1\); rename one/ },
  { what: "a subject template placeholder without a param", edits: [replace(MANIFEST, "{entity_id}.events", "{entity_id}.{region}.events")], code: ErrorCode.SubjectPlaceholder, file: MANIFEST, at: { needle: '"jetstream.onex' }, message: /subject "event": .*region/ },
  { what: "a subject param pointing at no envelope field", edits: [replace(MANIFEST, "entity_id: /source/entity_id", "entity_id: /source/entity")], code: ErrorCode.SubjectParam, file: MANIFEST, at: { needle: "/source/entity\n" }, message: /param "entity_id" must point at a required string field of the envelope/ },
  { what: "a schema file that does not exist", edits: [replace(MANIFEST, "payload: messages/node-failed.yaml", "payload: messages/node-fail.yaml")], code: ErrorCode.FileNotFound, file: MANIFEST, at: { needle: "messages/node-fail.yaml" }, message: /schema file schemas\/v0\.1\/messages\/node-fail\.yaml does not exist/ },
  // A file outside the version folder would be published verbatim (schema index, asyncapi.yaml, the site).
  { what: "a record path climbing out of the version folder", edits: [write("../secret/kubeconfig.yaml", "token: SECRET\n"), declareRecord("Leak", "../../secret/kubeconfig.yaml")], code: ErrorCode.ManifestInvalid, file: MANIFEST, at: { needle: "../../secret/kubeconfig.yaml" }, message: /schema file secret\/kubeconfig\.yaml lies outside the version folder; a manifest may name only files inside its version folder schemas\/v0\.1/ },
  {
    what: "a record that is a link to a file outside the version folder",
    edits: [write("../secret/kubeconfig.yaml", "token: SECRET\n"), { run: (schemas) => symlink(join(schemas, "..", "secret", "kubeconfig.yaml"), join(schemas, "v0.1", "records", "leak.yaml")) }, declareRecord("Leak", "records/leak.yaml")],
    code: ErrorCode.ManifestInvalid,
    file: MANIFEST,
    at: { needle: "records/leak.yaml" },
    message: /schema file schemas\/v0\.1\/records\/leak\.yaml is a link to a file outside the version folder/,
  },
  // --- Schema files.
  { what: "a $ref to a file that does not exist", edits: [replace("v0.1/messages/result-ready.yaml", "../records/execution-attestation.yaml", "../records/missing.yaml")], code: ErrorCode.RefUnresolved, file: "v0.1/messages/result-ready.yaml", at: { needle: "../records/missing.yaml" }, message: /\$ref "\.\.\/records\/missing\.yaml" points at schemas\/v0\.1\/records\/missing\.yaml, which does not exist/ },
  { what: "a $ref to a pointer that does not exist", edits: [useRecord("../records/address.yaml#/properties/zoen")], code: ErrorCode.RefUnresolved, file: NODE_FAILED, at: { needle: "../records/address.yaml#" }, message: /\/properties\/zoen does not exist in schemas\/v0\.1\/records\/address\.yaml/ },
  { what: "a $ref to a remote URL", edits: [useRecord("https://example.com/schemas/address.yaml")], code: ErrorCode.RefUnresolved, file: NODE_FAILED, at: { needle: "https://example.com" }, message: /\$ref "https:\/\/example\.com\/schemas\/address\.yaml" is a remote reference; onex resolves only files of the manifest/ },
  { what: "a $ref to a file not declared under records", edits: [write("v0.1/records/stray.yaml", "type: string\n"), useRecord("../records/stray.yaml")], code: ErrorCode.RefUnresolved, file: NODE_FAILED, at: { needle: "../records/stray.yaml" }, message: /\$ref "\.\.\/records\/stray\.yaml" points at schemas\/v0\.1\/records\/stray\.yaml, which the manifest does not declare under records/ },
  { what: "a property named __proto__", edits: [replace(NODE_FAILED, "properties:\n", "properties:\n  __proto__:\n    type: string\n")], code: ErrorCode.ReservedName, file: NODE_FAILED, at: { needle: "__proto__:" }, message: /key "__proto__" is reserved: JavaScript objects read it as their prototype/ },
  // A nested $id reached ajv (one id, two schemas) and json-schema-to-typescript (a numbered type name) as ONEX_E_INTERNAL.
  { what: "a $id inside a schema that is a record's id", edits: [replace(NODE_FAILED, "  reason:\n    type: string", "  reason:\n    $id: https://onex.dev/schemas/v0.1/Address.json\n    type: string")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: "$id: https" }, message: /\$id "https:\/\/onex\.dev\/schemas\/v0\.1\/Address\.json" inside a schema: .* only a file's root may carry \$id/ },
  { what: "a $id inside a schema that is a record's name", edits: [replace(NODE_FAILED, "  reason:\n    type: string", "  reason:\n    $id: Trust\n    type: string")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: "$id: Trust" }, message: /\$id "Trust" inside a schema/ },
  { what: "an unknown format", edits: [replace(NODE_FAILED, "  reason:\n    type: string", "  reason:\n    type: string\n    format: iri")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: "iri" }, message: /unknown format "iri"/ },
  { what: "a keyword without the type it applies to", edits: [replace(NODE_FAILED, "  reason:\n    type: string", "  reason:\n    maxLength: 10")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: "maxLength: 10" }, message: /missing type "string" for keyword "maxLength"/ },
  { what: "an unknown JSON Schema keyword", edits: [replace(NODE_FAILED, "  reason:\n    type: string", "  reason:\n    type: string\n    maxLenght: 10")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: "maxLenght" }, message: /unknown keyword: "maxLenght"/ },
  { what: "an invalid regular expression", edits: [replace(ADDRESS, 'pattern: "^[a-z0-9]', 'pattern: "^[a-z0-9')], code: ErrorCode.SchemaInvalid, file: ADDRESS, at: { needle: '"^[a-z0-9([' }, message: /pattern ".*" is not a valid regular expression/ },
  // Generated and then stalled the validator for minutes on a value of ~36 characters ("aaa…a!").
  { what: "a pattern with exponential backtracking", edits: [replace(NODE_FAILED, "  reason:\n    type: string", '  reason:\n    type: string\n    pattern: "^(a+)+$"')], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: '"^(a+)+$"' }, message: /pattern "\^\(a\+\)\+\$" can take exponential time to reject a string/ },
  { what: "a patternProperties key with exponential backtracking", edits: [replace(NODE_FAILED, "properties:\n", 'patternProperties:\n  "^(\\\\w+\\\\s?)*$":\n    type: string\nproperties:\n')], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: '"^(\\\\w+' }, message: /patternProperties key .* can take exponential time/ },
  { what: "an invalid patternProperties regex", edits: [replace(NODE_FAILED, "properties:\n", "patternProperties:\n  \"^x-(\":\n    type: string\nproperties:\n")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: '"^x-("' }, message: /patternProperties key "\^x-\(" is not a valid regular expression/ },
  { what: "a draft-07 $schema", edits: [replace(NODE_FAILED, "$schema: https://json-schema.org/draft/2020-12/schema", "$schema: http://json-schema.org/draft-07/schema#")], code: ErrorCode.SchemaInvalid, file: NODE_FAILED, at: { needle: "http://json-schema.org/draft-07" }, message: /\$schema "http:\/\/json-schema\.org\/draft-07\/schema#" is not JSON Schema 2020-12/ },
  { what: "an envelope without a payload", edits: [replace(ENVELOPE, "  payload:\n    type: object\n", ""), replace(ENVELOPE, "trust, payload]", "trust]")], code: ErrorCode.SchemaInvalid, file: ENVELOPE, at: { needle: "properties:" }, message: /the envelope has no "payload" property/ },
  { what: "an envelope that does not require its payload", edits: [replace(ENVELOPE, "trust, payload]", "trust]")], code: ErrorCode.SchemaInvalid, file: ENVELOPE, at: { needle: "required:" }, message: /the envelope does not require "payload", so every message could omit it and every payload would be optional/ },
  {
    what: "two records referring to each other and nothing else",
    edits: [declareRecord("Ping", "records/ping.yaml"), declareRecord("Pong", "records/pong.yaml"), write("v0.1/records/ping.yaml", "$ref: pong.yaml\n"), write("v0.1/records/pong.yaml", "$ref: ping.yaml\n"), useRecord("../records/ping.yaml")],
    code: ErrorCode.RefCycle,
    file: "v0.1/records/ping.yaml",
    at: { needle: "pong.yaml" },
    message: /\$ref cycle: schemas\/v0\.1\/records\/ping\.yaml -> schemas\/v0\.1\/records\/pong\.yaml -> schemas\/v0\.1\/records\/ping\.yaml never reaches a schema/,
  },
  {
    what: "a schema that refers to itself at its root",
    edits: [declareRecord("Loop", "records/loop.yaml"), write("v0.1/records/loop.yaml", "description: loops\n$ref: '#'\n"), useRecord("../records/loop.yaml")],
    code: ErrorCode.RefCycle,
    file: "v0.1/records/loop.yaml",
    at: { needle: "'#'" },
    message: /\$ref cycle: schemas\/v0\.1\/records\/loop\.yaml -> schemas\/v0\.1\/records\/loop\.yaml never reaches a schema/,
  },
  {
    what: "two records that include each other through allOf and anyOf",
    edits: [declareRecord("Ping", "records/ping.yaml"), declareRecord("Pong", "records/pong.yaml"), write("v0.1/records/ping.yaml", "allOf:\n  - $ref: pong.yaml\n"), write("v0.1/records/pong.yaml", "anyOf:\n  - type: string\n  - $ref: ping.yaml\n"), useRecord("../records/ping.yaml")],
    code: ErrorCode.RefCycle,
    file: "v0.1/records/ping.yaml",
    at: { needle: "pong.yaml" },
    message: /\$ref cycle: schemas\/v0\.1\/records\/ping\.yaml#\/allOf\/0 -> schemas\/v0\.1\/records\/pong\.yaml -> schemas\/v0\.1\/records\/pong\.yaml#\/anyOf\/1 -> schemas\/v0\.1\/records\/ping\.yaml -> schemas\/v0\.1\/records\/ping\.yaml#\/allOf\/0 never reaches a schema/,
  },
  {
    what: "a schema that applies itself under not",
    edits: [declareRecord("Loop", "records/loop.yaml"), write("v0.1/records/loop.yaml", "type: object\nnot:\n  $ref: '#'\n"), useRecord("../records/loop.yaml")],
    code: ErrorCode.RefCycle,
    file: "v0.1/records/loop.yaml",
    at: { needle: "'#'" },
    message: /\$ref cycle: schemas\/v0\.1\/records\/loop\.yaml#\/not -> schemas\/v0\.1\/records\/loop\.yaml -> schemas\/v0\.1\/records\/loop\.yaml#\/not never reaches a schema/,
  },
  {
    what: "an object with 2,100 properties",
    edits: [replace(NODE_FAILED, "properties:\n", `properties:\n${Array.from({ length: 2100 }, (_, i) => `  f${i}:\n    type: string\n`).join("")}`)],
    code: ErrorCode.SchemaTooLarge,
    file: NODE_FAILED,
    at: { needle: "properties:" },
    message: /this object lists 2103 properties; onex generates validators for at most 1000 per object/,
  },
  {
    what: "subschemas nested 40 deep",
    edits: [replace(NODE_FAILED, "properties:\n", `properties:\n  deep:\n${Array.from({ length: 40 }, (_, i) => `${"  ".repeat(2 * i + 2)}type: object\n${"  ".repeat(2 * i + 2)}properties:\n${"  ".repeat(2 * i + 3)}d:\n`).join("")}${"  ".repeat(82)}type: string\n`)],
    code: ErrorCode.SchemaTooLarge,
    file: NODE_FAILED,
    // The first subschema past the limit.
    at: { needle: `\n${" ".repeat(66)}d:`, offset: 67 },
    message: /subschemas are nested more than 32 deep here; move the inner part into a record and \$ref it/,
  },
  {
    what: "20,001 subschemas in one file",
    edits: [replace(NODE_FAILED, "properties:\n", `properties:\n${Array.from({ length: 25 }, (_, i) => `  g${i}:\n    anyOf:\n${Array.from({ length: 801 }, () => "      - type: string\n").join("")}`).join("")}`)],
    code: ErrorCode.SchemaTooLarge,
    file: NODE_FAILED,
    at: { line: 1, column: 1 },
    message: /the schema has more than 20000 subschemas; split it into records/,
  },
  // --- The schemas folder and transforms.
  {
    what: "a folder that looks like a version but is not one",
    edits: [{ run: (schemas) => rename(join(schemas, "v0.2"), join(schemas, "v0.2-draft")) }],
    code: ErrorCode.VersionFolder,
    file: "v0.2-draft",
    at: { line: 0, column: 0 },
    message: /folder "v0\.2-draft" looks like a protocol version but is not one/,
  },
  { what: "a type only the newer version has, not listed under new_types", edits: [replace("v0.2/from-v0.1.yaml", "new_types: [event.agent.stopped, ", "new_types: [")], code: ErrorCode.TransformInvalid, file: "v0.2/from-v0.1.yaml", at: { needle: "new_types:" }, message: /message type "event\.agent\.stopped" has no counterpart in v0\.1; declare it under new_types/ },
  { what: "a misspelt type under new_types", edits: [replace("v0.2/from-v0.1.yaml", "new_types: [event.agent.stopped, ", "new_types: [event.agent.stoped, ")], code: ErrorCode.TransformInvalid, file: "v0.2/from-v0.1.yaml", at: { needle: "event.agent.stoped" }, message: /"event\.agent\.stoped" is not a message type only v0\.2 has \(did you mean "event\.agent\.stopped"\?\)/ },
  {
    what: "a functions module no transform names (left from the version before)",
    edits: [{ run: (schemas) => writeFile(join(schemas, "v0.2", "from-v0.0.9.ts"), "export function up() {}\n") }],
    code: ErrorCode.TransformInvalid,
    file: "v0.2/from-v0.0.9.ts",
    at: { line: 1, column: 1 },
    message: /no transform file of v0\.2 names this functions module \(with "functions: from-v0\.0\.9\.ts"\)/,
  },
  // The functions module is copied into generated/: one from elsewhere would publish any file of
  // the build machine (its name is one file name beside the transform: the meta-schema refuses a path).
  {
    what: "a functions module that is a link to a file outside the version folder",
    edits: [
      write("../secret/token.ts", "export const token = 'SECRET';\n"),
      { run: (schemas) => symlink(join(schemas, "..", "secret", "token.ts"), join(schemas, "v0.2", "leak.ts")) },
      replace("v0.2/from-v0.1.yaml", "functions: from-v0.1.ts", "functions: leak.ts"),
    ],
    code: ErrorCode.TransformInvalid,
    file: "v0.2/from-v0.1.yaml",
    at: { needle: "leak.ts" },
    message: /functions module schemas\/v0\.2\/leak\.ts is a link to a file outside the version folder/,
  },
  {
    what: "a transform file that is a link to a file outside the version folder",
    edits: [
      write("../secret/kubeconfig.yaml", "token: SECRET\n"),
      {
        run: async (schemas) => {
          await rename(join(schemas, "v0.2", "from-v0.1.yaml"), join(schemas, "..", "secret", "moved.yaml"));
          await symlink(join(schemas, "..", "secret", "kubeconfig.yaml"), join(schemas, "v0.2", "from-v0.1.yaml"));
        },
      },
    ],
    code: ErrorCode.TransformInvalid,
    file: "v0.2/from-v0.1.yaml",
    at: { line: 1, column: 1 },
    message: /schemas\/v0\.2\/from-v0\.1\.yaml is a link to a file outside the version folder/,
  },
  {
    what: "a manifest that is a link to a file outside the version folder",
    edits: [
      {
        run: async (schemas) => {
          await mkdir(join(schemas, "..", "secret"), { recursive: true });
          await rename(join(schemas, "v0.2", "manifest.yaml"), join(schemas, "..", "secret", "manifest.yaml"));
          await symlink(join(schemas, "..", "secret", "manifest.yaml"), join(schemas, "v0.2", "manifest.yaml"));
        },
      },
    ],
    code: ErrorCode.ManifestInvalid,
    file: "v0.2/manifest.yaml",
    at: { line: 1, column: 1 },
    message: /schemas\/v0\.2\/manifest\.yaml is a link to a file outside the version folder/,
  },
  { what: "a YAML syntax error", edits: [replace(MANIFEST, 'compatible_with: ["0.0.9"]', 'compatible_with: ["0.0.9"')], code: ErrorCode.YamlSyntax, file: MANIFEST, at: { needle: "declared_by" }, message: /schemas\/v0\.1\/manifest\.yaml:4:1: / },
  {
    what: "aliases that expand past the limit (a billion laughs)",
    edits: [replace(MANIFEST, "declared_by: onex\n", "declared_by: onex\nx-a: &a [x, x, x, x, x, x, x, x, x, x]\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nx-c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n")],
    code: ErrorCode.YamlSyntax,
    file: MANIFEST,
    at: { needle: "*a" },
    message: /its aliases expand to too many values/,
  },
  { what: "a key given twice", edits: [replace(MANIFEST, "declared_by: onex\n", "declared_by: onex\ndeclared_by: someone\n")], code: ErrorCode.YamlSyntax, file: MANIFEST, at: { needle: "declared_by: someone" }, message: /Map keys must be unique/ },
];

/** 1-based line and column of `needle` (plus `offset`) in `text`. */
function position(text: string, needle: string, offset = 0): { line: number; column: number } {
  const index = text.indexOf(needle);
  if (index < 0) throw new Error(`"${needle}" not found`);
  const before = text.slice(0, index + offset);
  return { line: before.split("\n").length, column: before.length - before.lastIndexOf("\n") };
}

async function applyEdits(schemas: string, edits: Edit[]): Promise<void> {
  for (const edit of edits) {
    if ("run" in edit) await edit.run(schemas);
    else await writeFile(join(schemas, edit.file), edit.edit(await readFile(join(schemas, edit.file), "utf8")));
  }
}

async function generateError(schemas: string, out: string): Promise<OnexError> {
  const error = await generate({ schemasDir: schemas, outDir: out, check: true }).then(
    () => new Error("generate accepted the mistake"),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnexError);
  return error as OnexError;
}

describe("manifest mistakes, each where it is", () => {
  it("the table covers at least 30 mistakes", () => {
    expect(mistakes.length).toBeGreaterThanOrEqual(30);
  });

  for (const m of mistakes) {
    it(`${m.what}: ${m.code} at the offending key or value`, async () => {
      const { schemas, out } = await copySchemas();
      await applyEdits(schemas, m.edits);
      const error = await generateError(schemas, out);
      const shown = `schemas/${m.file}`;
      expect(error.code).toBe(m.code);
      expect(error.message).toMatch(m.message);
      if (m.code === ErrorCode.VersionFolder) {
        expect(error.details.file).toBe(join(schemas, m.file));
        return;
      }
      const expected = "needle" in m.at ? position(await readFile(join(schemas, m.file), "utf8"), m.at.needle, m.at.offset) : m.at;
      expect({ file: error.details.file, line: error.details.line, column: error.details.column }).toEqual({ file: shown, ...expected });
      expect(error.message).toContain(`${shown}:${expected.line}:${expected.column}: `);
      // A person reads the report: no stack overflow, no generated code.
      expect(error.message).not.toMatch(/Maximum call stack|function validate|scope\.schema/);
      expect(error.message.length).toBeLessThan(2000);
    });
  }
});

describe("every mistake of a run at once", () => {
  const several: Edit[] = [
    replace(MANIFEST, "declared_by: onex", "declard_by: onex"),
    replace(MANIFEST, "    payload: messages/node-failed.yaml", "    paylaod: messages/node-failed.yaml"),
    replace(MANIFEST, "  time: now", "  time: later"),
    replace("v0.2/manifest.yaml", "declared_by: onex", "declared_by: 42"),
  ];

  it("reports a version that does not match its folder once, without the compatible_with mistakes that follow from it", async () => {
    const { schemas, out } = await copySchemas();
    // v0.2's manifest says "0.1", so its compatible_with ["0.1"] would look like a version compatible with itself.
    await applyEdits(schemas, [replace("v0.2/manifest.yaml", 'version: "0.2"', 'version: "0.1"')]);
    const error = await generateError(schemas, out);
    expect(error.message).toMatch(/version "0\.1" does not match its folder v0\.2/);
    expect(error.details.problems ?? [error]).toHaveLength(1);
  });

  it("reports every meta-schema mistake of every version, in file and line order", async () => {
    const { schemas, out } = await copySchemas();
    await applyEdits(schemas, several);
    const error = await generateError(schemas, out);
    const problems = (error.details.problems as { file: string; line: number; message: string }[]).map((p) => `${p.file}:${p.line} ${p.message.split(";")[0]}`);
    expect(problems).toEqual([
      'schemas/v0.1/manifest.yaml:4 unknown key "declard_by" in (root)',
      'schemas/v0.1/manifest.yaml:26 manifest /auto/time "later" must be equal to one of the allowed values ["uuid","now","protocol","version"]',
      'schemas/v0.1/manifest.yaml:59 unknown key "paylaod" in /messages/2',
      "schemas/v0.2/manifest.yaml:4 manifest /declared_by 42 must be string",
    ]);
    expect(error.message).toContain("4 problems:");
  });

  it("a manifest that breaks the meta-schema still has its schema files checked in the same run", async () => {
    const { schemas, out } = await copySchemas();
    await applyEdits(schemas, [
      replace(MANIFEST, "declared_by: onex", "declard_by: onex"),
      replace(ADDRESS, 'pattern: "^[a-z0-9]', 'pattern: "^[a-z0-9'),
      replace(MANIFEST, "payload: messages/state-update.yaml", "payload: messages/state-updates.yaml"),
    ]);
    const error = await generateError(schemas, out);
    const codes = (error.details.problems as { code: string; file: string; line: number }[]).map((p) => `${p.code} ${p.file}:${p.line}`);
    expect(codes).toEqual([
      `${ErrorCode.ManifestInvalid} schemas/v0.1/manifest.yaml:4`,
      `${ErrorCode.SchemaInvalid} schemas/v0.1/records/address.yaml:12`,
      `${ErrorCode.FileNotFound} schemas/v0.1/manifest.yaml:71`,
    ]);
  });

  it("reports every schema-file mistake of a version at once", async () => {
    const { schemas, out } = await copySchemas();
    await applyEdits(schemas, [
      replace(NODE_FAILED, "$schema: https://json-schema.org/draft/2020-12/schema", "$schema: http://json-schema.org/draft-07/schema#"),
      replace(ADDRESS, 'pattern: "^[a-z0-9]', 'pattern: "^[a-z0-9'),
      replace("v0.1/messages/result-ready.yaml", "../records/execution-attestation.yaml", "../records/missing.yaml"),
      replace(MANIFEST, "    payload: messages/node-failed.yaml\n    subject: event", "    payload: messages/node-failed.yaml\n    subject: events"),
    ]);
    const error = await generateError(schemas, out);
    const codes = (error.details.problems as { code: string; file: string }[]).map((p) => `${p.code} ${p.file}`);
    expect(codes).toEqual([
      `${ErrorCode.SubjectUnknown} schemas/v0.1/manifest.yaml`,
      `${ErrorCode.SchemaInvalid} schemas/v0.1/messages/node-failed.yaml`,
      `${ErrorCode.SchemaInvalid} schemas/v0.1/records/address.yaml`,
      `${ErrorCode.RefUnresolved} schemas/v0.1/messages/result-ready.yaml`,
    ]);
  });

  it("the CLI prints every problem on its own line with its code and location, a summary, exits 3, and prints no stack or generated code", async () => {
    const { root, schemas } = await copySchemas();
    await applyEdits(schemas, [
      mistakes.find((m) => m.what === "an object with 2,100 properties")!.edits[0]!,
      replace(ADDRESS, 'pattern: "^[a-z0-9]', 'pattern: "^[a-z0-9'),
      replace("v0.2/manifest.yaml", "declared_by: onex", "declared_by: 42"),
    ]);
    for (const command of [["generate", "--schemas", "schemas", "--out", "generated"], ["diff", "v0.1", "v0.2", "--schemas", "schemas"]]) {
      const result = runCli(command, { cwd: root });
      expect(result.status, command[0]).toBe(3);
      const lines = result.stderr.trimEnd().split("\n");
      expect(lines, command[0]).toEqual([
        expect.stringMatching(/^error ONEX_E_SCHEMA_TOO_LARGE: schemas\/v0\.1\/messages\/node-failed\.yaml:6:1: this object lists 2103 properties/),
        expect.stringMatching(/^error ONEX_E_SCHEMA_INVALID: schemas\/v0\.1\/records\/address\.yaml:12:14: pattern ".*" is not a valid regular expression/),
        "error ONEX_E_MANIFEST_INVALID: schemas/v0.2/manifest.yaml:4:14: manifest /declared_by 42 must be string",
        "error ONEX_E_SCHEMA_TOO_LARGE: 3 problems in the schemas, each listed above",
      ]);
    }
  });

  it("a folder that looks like a version stops onex diff too: generate and diff agree on what the versions are", async () => {
    const { schemas } = await copySchemas();
    await rename(join(schemas, "v0.2"), join(schemas, "v0.2-draft"));
    await expect(diffVersions(schemas, "v0.0.9", "v0.1", dirname(schemas))).rejects.toMatchObject({ code: ErrorCode.VersionFolder });
  });

  it("a record that refers to itself inside a property is recursion, not a cycle, and generates", async () => {
    const { schemas, out } = await copySchemas();
    await applyEdits(schemas, [
      declareRecord("Tree", "records/tree.yaml"),
      write("v0.1/records/tree.yaml", "type: object\nproperties:\n  name:\n    type: string\n  children:\n    type: array\n    items:\n      $ref: tree.yaml\n"),
      useRecord("../records/tree.yaml"),
    ]);
    const result = await generate({ schemasDir: schemas, outDir: out });
    expect(result.files.get("v0.1/types.ts")).toContain("export interface Tree");
  });
});
