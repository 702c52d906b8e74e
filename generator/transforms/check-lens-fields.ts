/**
 * Checking that the lenses of a transform fit the schemas they connect. Each message type's
 * lenses (envelope lenses first) are played over the field names of the older version's
 * message, and their inverses over the newer one's, the way the compiled adapters run. A
 * lens that names a field that is not there, or creates one that already is, would otherwise
 * compile, pass `onex diff` ("covered by add") and silently overwrite or lose data.
 */
import { ErrorCode } from "@onex/runtime";
import { modelResolver, type RefResolver } from "../diff/compare-schemas.js";
import { didYouMean } from "../did-you-mean.js";
import { createAjv } from "../meta-schema.js";
import type { JsonSchema, VersionModel } from "../model.js";
import type { Problems } from "../problems.js";
import type { YamlFile } from "../yaml-file.js";
import type { Lens, TransformModel } from "./load-transforms.js";

/**
 * What the lenses know about a value: an object's declared fields, an array's items, a scalar,
 * or nothing (escape output, combinators, deep recursion). `required`: the value is a field its
 * object's schema requires (the flag moves with the field when a lens moves it).
 */
type Shape = (
  | { kind: "object"; fields: Map<string, Shape> }
  | { kind: "array"; items: Shape }
  /** `values`: the JSON text of every value `const`/`enum` allow, when the schema lists them; `schema`: the field's, where it is declared. */
  | { kind: "scalar"; values?: string[]; schema?: JsonSchema }
  | { kind: "unknown" }
) & { required?: boolean };

const UNKNOWN: Shape = { kind: "unknown" };
/** Recursive records end here; lenses never reach this deep. */
const MAX_DEPTH = 12;

/** Reports (into `problems`) every lens of `transform` that names a field wrongly for `older` or `newer`. */
export function checkLensFields(transform: TransformModel, yaml: YamlFile, older: VersionModel, newer: VersionModel, problems: Problems): void {
  const oldResolve = modelResolver(older);
  const newResolve = modelResolver(newer);
  for (const [type, own] of transform.types) {
    const lenses: Located[] = [
      ...transform.envelope.map((lens, i) => ({ lens, at: ["envelope", i] as Path })),
      ...own.map((lens, i) => ({ lens, at: ["types", type, i] as Path })),
    ];
    const messageOf = (model: VersionModel) => model.schemas.find((s) => s.name === model.messages.find((m) => m.type === type)!.name)!.schema;
    // One mistake per type: what a wrong lens leaves behind would only be reported again by the lenses after it.
    const found = problems.size;
    // What each convert's field holds in the older version, for the way down to compare with the newer one's.
    const olderValues = new Map<Lens, string[]>();
    new Player(yaml, problems, type, olderValues).run(lenses, shapeOf(messageOf(older), oldResolve, 0), "", "up", older);
    if (problems.size === found) new Player(yaml, problems, type, olderValues).run(lenses, shapeOf(messageOf(newer), newResolve, 0), "", "down", newer);
  }
}

type Path = (string | number)[];
interface Located {
  lens: Lens;
  /** Where the lens is in the transform file. */
  at: Path;
}

/** Keywords under which an object may require a field its `required` does not name. */
const CONDITIONAL_REQUIREDNESS = ["dependentRequired", "dependentSchemas", "if", "then", "else", "allOf", "anyOf", "oneOf", "not"] as const;

function shapeOf(raw: JsonSchema, resolve: RefResolver, depth: number): Shape {
  if (depth > MAX_DEPTH) return UNKNOWN;
  let schema = raw;
  for (let hops = 0; typeof schema.$ref === "string" && hops < 32; hops++) {
    const { $ref, ...siblings } = schema;
    schema = { ...resolve($ref as string), ...siblings };
  }
  if (schema.properties !== null && typeof schema.properties === "object") {
    const fields = new Map<string, Shape>();
    const required = new Set(Array.isArray(schema.required) ? (schema.required as unknown[]) : []);
    // A field the object requires only under a condition (dependentRequired, if/then, a
    // combinator) is neither required nor optional here: no lens is refused for either.
    const conditional = CONDITIONAL_REQUIREDNESS.some((keyword) => schema[keyword] !== undefined);
    for (const [name, sub] of Object.entries(schema.properties as Record<string, JsonSchema>)) {
      fields.set(name, { ...shapeOf(sub, resolve, depth + 1), required: required.has(name) ? true : conditional ? undefined : false });
    }
    return { kind: "object", fields };
  }
  if (schema.items !== undefined && typeof schema.items === "object") return { kind: "array", items: shapeOf(schema.items as JsonSchema, resolve, depth + 1) };
  const values = schema.const !== undefined ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : undefined;
  if (values) return { kind: "scalar", values: values.map((v) => JSON.stringify(v)), schema };
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length === 1 && typeof types[0] === "string" && types[0] !== "object" && types[0] !== "array") return { kind: "scalar", schema };
  // A map, a combinator or no type at all: its fields are not known, so lenses inside it are not judged.
  return UNKNOWN;
}

/** The shape a lens gives the field it creates. */
function createdShape(lens: Lens): Shape {
  if ((lens.kind === "add" || lens.kind === "remove") && !lens.optional) {
    const value = lens.default;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return { kind: "object", fields: new Map(Object.keys(value).map((k) => [k, UNKNOWN])) };
    return Array.isArray(value) ? { kind: "array", items: UNKNOWN } : { kind: "scalar" };
  }
  return UNKNOWN;
}

let scalarChecker: ReturnType<typeof createAjv> | undefined;

/** Why `value` cannot be the value of a field of `shape` (a lens's default), or undefined when it can, or the shape does not say. */
function defaultProblem(value: unknown, shape: Shape): string | undefined {
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  if (shape.kind === "object" && kind !== "object") return "is not an object";
  if (shape.kind === "array" && kind !== "array") return "is not an array";
  if (shape.kind !== "scalar" || shape.schema === undefined) return undefined;
  // The field's own schema decides, formats included, as the generated validator will. One that
  // reaches other schemas (`$ref` in `allOf`) is not judged here: `onex check` and migrate's
  // validation of what a transform makes judge it.
  scalarChecker ??= createAjv({ strict: false });
  let valid: boolean;
  try {
    valid = scalarChecker.validate(shape.schema, value) as boolean;
  } catch {
    return undefined;
  }
  if (valid) return undefined;
  const issue = scalarChecker.errors?.[0];
  return `is not valid (${issue?.message ?? "fails its schema"})`;
}

class Player {
  constructor(
    private readonly yaml: YamlFile,
    private readonly problems: Problems,
    private readonly type: string,
    private readonly olderValues: Map<Lens, string[]>,
  ) {}

  /** Set by the first report: the shape after a wrong lens is a guess, so the lenses after it are not judged. */
  private failed = false;

  /**
   * Plays `lenses` over `scope` in `direction`: "up" runs them as written over the older
   * version's shape, "down" runs their inverses in reverse order over the newer one's.
   */
  run(lenses: readonly Located[], scope: Shape, pointer: string, direction: "up" | "down", model: VersionModel): void {
    if (scope.kind !== "object") return;
    const ordered = direction === "up" ? lenses : [...lenses].reverse();
    for (const { lens, at } of ordered) {
      if (this.failed) return;
      this.step(lens, at, scope, pointer, direction, model);
    }
  }

  private step(lens: Lens, at: Path, scope: Shape & { kind: "object" }, pointer: string, direction: "up" | "down", model: VersionModel): void {
    const v = `v${model.version}`;
    const where = (field: string) => `${pointer}/${field}`;
    const subject = at[0] === "envelope" ? `the ${v} envelope` : `${v} ${this.type}`;
    const report = (key: Path, message: string) => {
      this.failed = true;
      const location = this.yaml.locate([...at, lens.kind, ...key]);
      this.problems.add(ErrorCode.TransformInvalid, { file: location.file, line: location.line, column: location.column }, message, { type: this.type, version: model.version });
    };
    const fields = scope.fields;
    const known = (name: string) => fields.has(name);
    const missing = (name: string, key: Path, what: string) => {
      if (known(name)) return false;
      report(key, `${what}: ${subject} has no field ${where(name)}${didYouMean(name, fields.keys())}`);
      return true;
    };
    const present = (name: string, key: Path, what: string) => {
      if (!known(name) || fields.get(name)!.kind === "unknown") return false;
      report(key, what);
      return true;
    };

    switch (lens.kind) {
      case "rename": {
        const [from, to, fromKey, toKey] = direction === "up" ? [lens.from, lens.to, "from", "to"] : [lens.to, lens.from, "to", "from"];
        if (missing(from, [fromKey], `rename ${lens.from} -> ${lens.to}`)) return;
        if (present(to, [toKey], `rename ${lens.from} -> ${lens.to}: ${subject} already has ${where(to)}; the rename would overwrite it`)) return;
        fields.set(to, fields.get(from)!);
        fields.delete(from);
        return;
      }
      case "add":
      case "remove": {
        // An add creates its field on the way up and drops it on the way down; a remove the reverse.
        const creates = (lens.kind === "add") === (direction === "up");
        if (creates) {
          const message =
            lens.kind === "add"
              ? `add "${lens.name}": ${subject} already has ${where(lens.name)}; an add would overwrite it (to change a field, rename or convert it)`
              : `remove "${lens.name}": ${subject} still declares ${where(lens.name)}; remove a field only where the newer version no longer has it`;
          if (present(lens.name, ["name"], message)) return;
          fields.set(lens.name, createdShape(lens));
        } else {
          const what = lens.kind === "add" ? `add "${lens.name}" (creates a field the newer version must declare)` : `remove "${lens.name}"`;
          if (missing(lens.name, ["name"], what)) return;
          // Created with no value (`optional`), a field its version requires leaves every message made so invalid.
          if (lens.optional && fields.get(lens.name)!.required) {
            report(["optional"], `${lens.kind} "${lens.name}": ${where(lens.name)} is required in ${subject}, and an optional ${lens.kind} leaves it out of messages from the other version; give the lens a "default" instead`);
            return;
          }
          // Created with a default, a field its version leaves optional: a message without it comes
          // back from the other version with the default, so the round trip changes it. (A field an
          // escape touched, or one a lens before this one created, has no known requiredness: not judged.)
          if (!lens.optional && fields.get(lens.name)!.required === false) {
            report(["default"], `${lens.kind} "${lens.name}": ${where(lens.name)} is optional in ${subject}, and ${lens.kind === "add" ? "an" : "a"} ${lens.kind} with a default gives it ${JSON.stringify(lens.default)} in every message without it that goes to the other version and back; make the lens "optional: true" instead`);
            return;
          }
          // The default becomes this field's value when the lens creates it: it must be one the field can hold.
          const problem = lens.optional ? undefined : defaultProblem(lens.default, fields.get(lens.name)!);
          if (problem !== undefined) {
            report(["default"], `${lens.kind} "${lens.name}": the default ${JSON.stringify(lens.default)} ${problem} for ${where(lens.name)} of ${subject}`);
            return;
          }
          fields.delete(lens.name);
        }
        return;
      }
      case "hoist":
      case "plunge": {
        // A plunge moves `name` into `host` on the way up; a hoist moves it out.
        const inward = (lens.kind === "plunge") === (direction === "up");
        const what = `${lens.kind} ${lens.host}.${lens.name}`;
        if (missing(lens.host, ["host"], what)) return;
        const host = fields.get(lens.host)!;
        if (host.kind === "unknown") {
          fields.delete(lens.name);
          return;
        }
        if (host.kind !== "object") {
          report(["host"], `${what}: ${where(lens.host)} of ${subject} is not an object`);
          return;
        }
        if (inward) {
          if (missing(lens.name, ["name"], what)) return;
          if (host.fields.has(lens.name) && host.fields.get(lens.name)!.kind !== "unknown") {
            report(["name"], `${what}: ${where(`${lens.host}/${lens.name}`)} of ${subject} already exists; the move would overwrite it`);
            return;
          }
          host.fields.set(lens.name, fields.get(lens.name)!);
          fields.delete(lens.name);
        } else {
          if (!host.fields.has(lens.name)) {
            report(["name"], `${what}: ${subject} has no field ${where(`${lens.host}/${lens.name}`)}${didYouMean(lens.name, host.fields.keys())}`);
            return;
          }
          if (present(lens.name, ["name"], `${what}: ${subject} already has ${where(lens.name)}; the move would overwrite it`)) return;
          fields.set(lens.name, host.fields.get(lens.name)!);
          host.fields.delete(lens.name);
        }
        return;
      }
      case "wrap":
      case "head": {
        if (missing(lens.name, ["name"], `${lens.kind} "${lens.name}"`)) return;
        const value = fields.get(lens.name)!;
        const toArray = (lens.kind === "wrap") === (direction === "up");
        // A wrap takes a single value into a list, a head a list to its first element: the other way round is a mistake.
        if (toArray ? value.kind === "array" : value.kind === "object" || value.kind === "scalar") {
          report(["name"], `${lens.kind} "${lens.name}": ${where(lens.name)} of ${subject} is ${toArray ? "already an array" : "not an array"}; ${lens.kind === "wrap" ? "wrap makes an array of a single value" : "head takes the first element of an array"}`);
          return;
        }
        // The field stays as required as it was: the lenses after this one judge it by that.
        fields.set(lens.name, { ...(toArray ? { kind: "array", items: value } : value.kind === "array" ? value.items : UNKNOWN), required: value.required });
        return;
      }
      case "convert": {
        if (missing(lens.name, ["name"], `convert "${lens.name}"`)) return;
        const field = fields.get(lens.name)!;
        // The values a convert maps from (and falls back to) must be values the field can hold, or that entry can never apply.
        if (field.kind === "scalar" && field.values) {
          const allowed = field.values;
          const side = direction === "up" ? "old" : "new";
          const bad = lens.mapping.findIndex(([older, newer]) => !allowed.includes(JSON.stringify(direction === "up" ? older : newer)));
          const fallbackKey = direction === "up" ? "down" : "up";
          const fallback = lens.fallback[fallbackKey];
          const list = `(${allowed.join(", ")})`;
          if (bad !== -1) {
            const value = lens.mapping[bad]![direction === "up" ? 0 : 1];
            report(["mapping", bad, side], `convert "${lens.name}": ${JSON.stringify(value)} is not a value ${where(lens.name)} of ${subject} can hold ${list}${didYouMean(String(value), allowed.map((v) => JSON.parse(v) as string).filter((v) => typeof v === "string"))}`);
            return;
          }
          if (!allowed.includes(JSON.stringify(fallback))) {
            report(["fallback", fallbackKey], `convert "${lens.name}": fallback.${fallbackKey} ${JSON.stringify(fallback)} is not a value ${where(lens.name)} of ${subject} can hold ${list}`);
            return;
          }
          // A value both versions hold that no entry names becomes the fallback each way: an enum
          // widened by one value, its mapping listing the old values but one, turns that one into
          // fallback.up for every newer reader. Naming it, even to map it elsewhere, says it is meant.
          const olderAllowed = this.olderValues.get(lens);
          if (direction === "up") this.olderValues.set(lens, allowed);
          else if (olderAllowed !== undefined) {
            const named = new Set(lens.mapping.flatMap((pair) => pair.map((value) => JSON.stringify(value))));
            const forgotten = allowed.find((value) => olderAllowed.includes(value) && !named.has(value));
            if (forgotten !== undefined) {
              report(["mapping"], `convert "${lens.name}": ${forgotten} is a value of ${where(lens.name)} in both versions, but no mapping entry names it: it would become fallback.up ${JSON.stringify(lens.fallback.up)} on the way up; map it to itself ({ old: ${forgotten}, new: ${forgotten} }) or to what it means now`);
              return;
            }
          }
        }
        // What the field holds after the convert is the other version's business.
        fields.set(lens.name, { kind: "scalar", required: field.required });
        return;
      }
      case "in":
      case "map": {
        if (missing(lens.name, ["name"], `${lens.kind} "${lens.name}"`)) return;
        let inner = fields.get(lens.name)!;
        if (lens.kind === "map") {
          if (inner.kind === "unknown") return;
          if (inner.kind !== "array") {
            report(["name"], `map "${lens.name}": ${where(lens.name)} of ${subject} is not an array`);
            return;
          }
          inner = inner.items;
        }
        if (inner.kind === "unknown") return;
        if (inner.kind !== "object") {
          report(["name"], `${lens.kind} "${lens.name}": ${where(lens.name)}${lens.kind === "map" ? " items" : ""} of ${subject} ${lens.kind === "map" ? "are" : "is"} not an object`);
          return;
        }
        const nested = lens.lenses.map((l, j) => ({ lens: l, at: [...at, lens.kind, "lenses", j] }));
        this.run(nested, inner, `${where(lens.name)}${lens.kind === "map" ? "/-" : ""}`, direction, model);
        return;
      }
      case "escape":
        // A named function may read and write anything it touches; what it leaves is not known here.
        for (const field of lens.touches) fields.set(field, UNKNOWN);
        return;
    }
  }
}
