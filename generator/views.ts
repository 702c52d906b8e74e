/** The views the templates render: the model, with names and snippets worked out in one place. */
import { jsonPointer } from "./envelope-layout.js";
import type { AutoKind, SubjectModel, VersionModel } from "./model.js";
import { schemaIdOf } from "./model.js";

// messages.ts imports these under `$` names (see templates/messages.ts.hbs).
const AUTO_EXPRESSION: Record<AutoKind, string> = {
  uuid: "$newMessageId()",
  now: "$nowTimestamp()",
  protocol: "$protocolBlock()",
  version: "$version",
};

/** `event_stream` -> `EventStream` */
export function pascalCase(key: string): string {
  return key.replace(/(^|_)([a-z0-9])/g, (_m, _sep, ch: string) => ch.toUpperCase());
}

function accessor(path: string[]): string {
  return path.map((s, i) => (/^[A-Za-z_$][\w$]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`)).join("");
}

function subjectView(subject: SubjectModel, model: VersionModel) {
  const pascal = pascalCase(subject.key);
  return {
    key: subject.key,
    // The message types of this version that travel on the subject, so a receiver can tell
    // another subscriber's message from one of a type the protocol does not have.
    types: model.messages.filter((m) => m.subject === subject.key).map((m) => m.type).sort(),
    pascal,
    template: subject.template,
    constName: `${subject.key.toUpperCase()}_SUBJECT_TOKENS`,
    templateTokens: subject.tokens.map((t) => (typeof t === "string" ? t : null)),
    tokens: subject.tokens.map((t) => (typeof t === "string" ? { literal: t } : { param: t.param })),
    params: subject.tokens.flatMap((t, index) => (typeof t === "string" ? [] : [{ name: t.param, index }])),
    paramNames: subject.tokens.flatMap((t) => (typeof t === "string" ? [] : [t.param])),
    // The params that carry the source address (those reading the envelope layout's zone and entity): transports filter by them.
    sourceParams: Object.fromEntries(
      (["zone", "entityType", "entityId"] as const).flatMap((member) => {
        const param = Object.entries(subject.params).find(([, path]) => jsonPointer(path) === model.envelopeLayout[member])?.[0];
        return param === undefined ? [] : [[member, param]];
      }),
    ),
  };
}

/** The view shared by every per-version template. */
export function versionView(model: VersionModel, runtimeImport: string, nestedTypeNames: readonly string[] = []) {
  const subjects = model.subjects.map((s) => subjectView(s, model));
  const auto = Object.entries(model.auto).map(([key, kind]) => ({ key, expr: AUTO_EXPRESSION[kind] }));
  const autoList = ["type", ...auto.map((a) => a.key)].map((k) => `\`${k}\``).join(", ");
  // messages.ts imports from manifest.ts only what its auto fields use (and `version`, always).
  const protocolField = Object.entries(model.auto).find(([, kind]) => kind === "protocol")?.[0];
  const manifestImports = protocolField !== undefined ? "protocolBlock as $protocolBlock, version as $version" : "version as $version";
  return {
    manifestFile: model.manifestFile,
    hash: model.hash,
    version: model.version,
    compatibleWith: model.compatibleWith,
    declaredBy: model.declaredBy,
    schemaManifestUrl: model.schemaManifestUrl,
    changelog: model.changelog,
    runtimeImport,
    manifestImports,
    protocolField: protocolField ?? null,
    // manifest.ts: where the runtime reads this version's envelopes (pointers in a fixed order).
    envelopeLayout: (["declaredVersion", "time", "zone", "entityType", "entityId", "signature"] as const).flatMap((key) => (model.envelopeLayout[key] === undefined ? [] : [{ key, pointer: model.envelopeLayout[key] }])),
    messageTypes: model.messages.map((m) => m.type).sort(),
    subjects,
    // Records, payloads and the types named from a path inside any schema, exported from index.ts.
    dataTypes: [...model.schemas.filter((s) => s.kind !== "message").map((s) => s.name), ...nestedTypeNames].sort(),
    messages: model.messages.map((m) => {
      const subject = model.subjects.find((s) => s.key === m.subject)!;
      return {
        name: m.name,
        type: m.type,
        description: m.description?.replace(/\s+/g, " ").replace(/\*\//g, "* /"),
        schemaId: schemaIdOf(model, m.name),
        auto,
        autoList,
        subjectKey: subject.key,
        subjectPascal: pascalCase(subject.key),
        subjectArgs: Object.entries(subject.params).map(([name, path]) => ({ name, access: accessor(path) })),
      };
    }),
  };
}
