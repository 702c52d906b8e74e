/**
 * The intermediate model: one validated, reference-resolved description of a protocol
 * version. Every emitter reads this and nothing else.
 *
 * Inside the model every `$ref` has the form `onex:<Name>` or `onex:<Name>#<pointer>`,
 * naming a schema of the same version; emitters turn it into what their tool expects.
 */

import type { EnvelopeLayoutModel } from "./envelope-layout.js";

export type JsonSchema = { [key: string]: unknown };

export type AutoKind = "uuid" | "now" | "protocol" | "version";

export interface ChangelogEntry {
  change: string;
  why: string;
}

/** A schema that gets a generated type, validator and name. */
export interface NamedSchema {
  name: string;
  kind: "record" | "payload" | "message";
  /** The file it came from, relative to the schemas folder (the envelope file for messages). */
  file: string;
  schema: JsonSchema;
  description?: string;
}

export interface SubjectModel {
  /** Manifest key, for example `event`. */
  key: string;
  template: string;
  /** Template tokens: a literal string, or `{ param }` for a placeholder. */
  tokens: (string | { param: string })[];
  /** Placeholder -> JSON Pointer segments into the envelope. */
  params: Record<string, string[]>;
}

export interface MessageModel {
  type: string;
  name: string;
  payloadName: string;
  subject: string;
  description?: string;
}

export interface VersionModel {
  /** `0.1` */
  version: string;
  /** `v0.1`, the folder name */
  id: string;
  /** Manifest path relative to the schemas folder's parent, as shown in headers. */
  manifestFile: string;
  /** sha256 over the bytes of the manifest and of every schema file it uses (with their paths relative to the manifest), nothing else. */
  hash: string;
  compatibleWith: string[];
  declaredBy: string;
  schemaManifestUrl: string;
  changelog: ChangelogEntry[];
  /** Base URI of schema ids: `<base><Name>.json`. */
  schemaIdBase: string;
  auto: Record<string, AutoKind>;
  /** Where the runtime reads the declared version, time, source and signature of this version's envelopes. */
  envelopeLayout: EnvelopeLayoutModel;
  subjects: SubjectModel[];
  /** Sorted by type. */
  messages: MessageModel[];
  /** Records, payloads and messages, sorted by name. */
  schemas: NamedSchema[];
}

/** The schema id a named schema gets in generated validators. */
export function schemaIdOf(model: VersionModel, name: string): string {
  return `${model.schemaIdBase}${name}.json`;
}

/** Type names every generated SDK module declares itself (index.ts, manifest.ts, types.ts): no manifest name or nested type may take one. */
export const SDK_TYPE_NAMES = ["MessageType", "AnyMessage", "AnyMessageData", "ProtocolBlock"] as const;

const schemasByName = new WeakMap<VersionModel, ReadonlyMap<string, NamedSchema>>();

/** The version's schemas by name, built once per model: examples and field tables look names up for every message, and a map built per message made a manifest of thousands of types quadratic. */
export function schemasByNameOf(model: VersionModel): ReadonlyMap<string, NamedSchema> {
  let map = schemasByName.get(model);
  if (map === undefined) schemasByName.set(model, (map = new Map(model.schemas.map((s) => [s.name, s]))));
  return map;
}
