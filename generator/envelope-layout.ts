/**
 * The envelope layout of a version: where its envelope keeps what the runtime reads (the
 * declared version, the creation time, the source zone and entity, the signature), as JSON
 * Pointers. It is derived from what the manifest already says — the `auto` fields (`version`
 * or `protocol` declares the version, `now` is the creation time) and the subject params
 * `zone_id`, `entity_type` and `entity_id` (the source address the specification's subject
 * namespace is built from) — and emitted as `envelope` in the version's manifest.ts, so the
 * runtime never assumes a version's shape.
 */
import { ErrorCode } from "@onex/runtime";
import type { AutoKind, SubjectModel } from "./model.js";

/** A version's envelope layout, as the runtime's `EnvelopeLayout` takes it. */
export interface EnvelopeLayoutModel {
  declaredVersion?: string;
  time?: string;
  zone?: string;
  entityType?: string;
  entityId?: string;
  signature?: string;
}

/** A layout problem, located at a manifest path. */
export interface LayoutProblem {
  code: ErrorCode;
  path: (string | number)[];
  message: string;
}

// Subject params naming the source address, by layout member.
const SOURCE_PARAMS = { zone: "zone_id", entityType: "entity_type", entityId: "entity_id" } as const;

/** A JSON Pointer (RFC 6901) of path segments. */
export function jsonPointer(segments: readonly string[]): string {
  return segments.map((s) => `/${s.replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

/**
 * Derives the layout from the manifest's `auto` fields and subject params; returns the
 * problems instead when the manifest gives two places for the version or the time, or its
 * subjects disagree on where the source address is.
 */
export function deriveEnvelopeLayout(auto: Record<string, AutoKind>, subjects: readonly SubjectModel[], envelopeFields: readonly string[]): EnvelopeLayoutModel | LayoutProblem[] {
  const problems: LayoutProblem[] = [];
  const fieldsOf = (...kinds: AutoKind[]) => Object.entries(auto).filter(([, kind]) => kinds.includes(kind));
  const declaring = fieldsOf("version", "protocol");
  const timing = fieldsOf("now");
  // A member the manifest does not place is left out (the runtime then has no such fact for
  // the version: no creation time means replay protection refuses its messages); two places
  // for one fact are a mistake.
  if (declaring.length > 1) {
    problems.push({ code: ErrorCode.ManifestInvalid, path: ["auto", declaring[1]![0]], message: `two envelope fields declare the protocol version (${declaring.map(([f]) => f).join(", ")}); keep one \`auto\` field of kind version or protocol` });
  }
  if (timing.length > 1) {
    problems.push({ code: ErrorCode.ManifestInvalid, path: ["auto", timing[1]![0]], message: `two envelope fields hold the creation time (${timing.map(([f]) => f).join(", ")}); keep one \`auto\` field of kind now` });
  }
  const source: Partial<Record<keyof typeof SOURCE_PARAMS, string>> = {};
  for (const [member, param] of Object.entries(SOURCE_PARAMS) as [keyof typeof SOURCE_PARAMS, string][]) {
    for (const subject of subjects) {
      const path = subject.params[param];
      if (path === undefined) continue;
      const pointer = jsonPointer(path);
      if (source[member] !== undefined && source[member] !== pointer) {
        problems.push({ code: ErrorCode.SubjectParam, path: ["subjects", subject.key, "params", param], message: `param ${param} reads ${pointer}, but another subject reads it from ${source[member]}: the source address has one place in the envelope` });
      }
      source[member] ??= pointer;
    }
  }
  if (problems.length > 0) return problems;
  const declared = declaring[0];
  return {
    ...(declared === undefined ? {} : { declaredVersion: jsonPointer(declared[1] === "protocol" ? [declared[0], "version"] : [declared[0]]) }),
    ...(timing[0] === undefined ? {} : { time: jsonPointer([timing[0][0]]) }),
    ...source,
    // The O.M.N.I. trust block's signature: what the signed part of a message leaves out.
    ...(envelopeFields.includes("trust") ? { signature: jsonPointer(["trust", "signature"]) } : {}),
  };
}
