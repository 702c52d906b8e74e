/**
 * Compiling lenses into straight-line TypeScript: one function per message type and
 * direction that copies the objects it changes and moves fields with plain property code.
 * Nothing interprets lenses at run time. The downgrade is the upgrade reversed: lenses in
 * reverse order, each replaced by its inverse.
 *
 * A field is taken out of an object by copying the object without it (`withoutField`,
 * `renamedField` in templates/transform-pair.ts.hbs), never with `delete`: V8 turns an
 * object that loses a property other than its last into a slow dictionary, so each rename
 * cost ~1 µs and JSON.stringify then took twice as long on the result. A field is added by
 * a copy too (`withField`): adding one to an object made by spreading another gives that
 * object a hidden class of its own. The copies keep the key order assignment and `delete`
 * gave, so the output is the same text.
 */
import type { Lens } from "./load-transforms.js";
import { lensField } from "./load-transforms.js";

/** Names the compiled code refers to, supplied by the file that embeds it. */
export interface CompileNames {
  /** Identifier of the escape-hatch module namespace import. */
  functions: string;
  /** Identifier of the LensContext constant for this direction. */
  context: string;
}

/** The inverse of one lens: applying it after `lens` restores the input (up to residue). */
export function invertLens(lens: Lens): Lens {
  switch (lens.kind) {
    case "rename":
      return { kind: "rename", from: lens.to, to: lens.from };
    case "add":
      return { ...lens, kind: "remove" };
    case "remove":
      return { ...lens, kind: "add" };
    case "hoist":
      return { ...lens, kind: "plunge" };
    case "plunge":
      return { ...lens, kind: "hoist" };
    case "wrap":
      return { ...lens, kind: "head" };
    case "head":
      return { ...lens, kind: "wrap" };
    case "convert":
      return { ...lens, mapping: lens.mapping.map(([a, b]) => [b, a]), fallback: { up: lens.fallback.down, down: lens.fallback.up } };
    case "in":
    case "map":
      return { ...lens, lenses: invertLenses(lens.lenses) };
    case "escape":
      return { ...lens, up: lens.down, down: lens.up };
  }
}

/** A lens list reversed: the downgrade of `lenses`. */
export function invertLenses(lenses: readonly Lens[]): Lens[] {
  return [...lenses].reverse().map(invertLens);
}

/** Module-level helpers the compiled code of `lenses` calls: one value map per `convert`, each way. */
export function compileConvertHelpers(lenses: readonly Lens[], prefix: string): string[] {
  const out: string[] = [];
  const visit = (list: readonly Lens[]) => {
    for (const lens of list) {
      if (lens.kind === "in" || lens.kind === "map") visit(lens.lenses);
      if (lens.kind !== "convert") continue;
      out.push(switchFunction(`${prefix}Convert${lens.id}Up`, lens.mapping, lens.fallback.up));
      out.push(switchFunction(`${prefix}Convert${lens.id}Down`, lens.mapping.map(([a, b]) => [b, a]), lens.fallback.down));
    }
  };
  visit(lenses);
  return out;
}

function switchFunction(name: string, mapping: [unknown, unknown][], fallback: unknown): string {
  const seen = new Set<string>();
  const cases: string[] = [];
  for (const [from, to] of mapping) {
    // A value mapped twice the other way maps to its first counterpart; the round trip keeps the rest in the residue.
    const key = JSON.stringify(from);
    if (seen.has(key)) continue;
    seen.add(key);
    cases.push(`    case ${key}:\n      return ${JSON.stringify(to)};`);
  }
  return `function ${name}(value: unknown): unknown {\n  switch (value) {\n${cases.join("\n")}\n    default:\n      return ${JSON.stringify(fallback)};\n  }\n}`;
}

/**
 * The body of `(fields, restore, dropped) => fields` applying `lenses` (in the direction
 * they are written). `convertPrefix` and `direction` pick the convert helpers; indentation
 * is two spaces, and the result is deterministic.
 */
export function compileConversion(lenses: readonly Lens[], names: CompileNames, convertPrefix: string, direction: "up" | "down"): string {
  // Scopes are `let`: a lens that takes a field out replaces the scope's object with a copy.
  const lines: string[] = ["let s0: JsonObject = { ...fields };"];
  let counter = 0;
  const emit = (depth: number, text: string) => lines.push(`${"  ".repeat(depth)}${text}`);

  // `pointer` is a JS expression for the scope's JSON Pointer (a string literal unless inside `map`).
  const compileList = (list: readonly Lens[], scope: string, pointer: Pointer, depth: number) => {
    for (const lens of list) compileLens(lens, scope, pointer, depth);
  };
  const compileLens = (lens: Lens, s: string, pointer: Pointer, depth: number) => {
    const field = (name: string) => `${s}[${JSON.stringify(name)}]`;
    const has = (name: string) => `Object.hasOwn(${s}, ${JSON.stringify(name)})`;
    const key = pointerExpr(pointer, lensField(lens));
    switch (lens.kind) {
      case "rename":
        emit(depth, `if (${has(lens.from)}) ${s} = renamedField(${s}, ${JSON.stringify(lens.from)}, ${JSON.stringify(lens.to)});`);
        return;
      case "add":
        if (lens.optional) {
          emit(depth, `if (Object.hasOwn(restore, ${key})) ${s} = withField(${s}, ${JSON.stringify(lens.name)}, restore[${key}]);`);
        } else {
          emit(depth, `${s} = withField(${s}, ${JSON.stringify(lens.name)}, Object.hasOwn(restore, ${key}) ? restore[${key}] : ${literal(lens.default)});`);
        }
        return;
      case "remove":
        emit(depth, `if (${has(lens.name)}) {`);
        if (lens.optional) {
          emit(depth + 1, `dropped[${key}] = ${field(lens.name)};`);
        } else {
          emit(depth + 1, `const value = ${field(lens.name)};`);
          emit(depth + 1, `if (${notEqual("value", lens.default)}) dropped[${key}] = value;`);
        }
        emit(depth + 1, `${s} = withoutField(${s}, ${JSON.stringify(lens.name)});`);
        emit(depth, "}");
        return;
      case "plunge":
        emit(depth, `if (${has(lens.name)}) {`);
        emit(depth + 1, `${s} = withField(${s}, ${JSON.stringify(lens.host)}, withField(${field(lens.host)}, ${JSON.stringify(lens.name)}, ${field(lens.name)}));`);
        emit(depth + 1, `${s} = withoutField(${s}, ${JSON.stringify(lens.name)});`);
        emit(depth, "}");
        return;
      case "hoist": {
        const host = `h${++counter}`;
        emit(depth, `{`);
        emit(depth + 1, `const ${host} = ${field(lens.host)};`);
        emit(depth + 1, `if (isObject(${host}) && Object.hasOwn(${host}, ${JSON.stringify(lens.name)})) {`);
        emit(depth + 2, `const { [${JSON.stringify(lens.name)}]: value, ...rest } = ${host};`);
        emit(depth + 2, `${field(lens.host)} = rest;`);
        emit(depth + 2, `${s} = withField(${s}, ${JSON.stringify(lens.name)}, value);`);
        emit(depth + 1, "}");
        emit(depth, "}");
        return;
      }
      case "wrap":
        emit(depth, `if (${has(lens.name)}) ${field(lens.name)} = Object.hasOwn(restore, ${key}) ? restore[${key}] : [${field(lens.name)}];`);
        // An empty array had no first element: its head left the field out and kept the array in the residue.
        emit(depth, `else if (Object.hasOwn(restore, ${key})) ${field(lens.name)} = restore[${key}];`);
        return;
      case "head":
        emit(depth, `if (${has(lens.name)}) {`);
        emit(depth + 1, `const value = ${field(lens.name)};`);
        if (lens.hasFallback) {
          emit(depth + 1, `${field(lens.name)} = Array.isArray(value) && value.length > 0 ? value[0] : ${literal(lens.fallback)};`);
        } else {
          emit(depth + 1, `if (Array.isArray(value) && value.length > 0) ${field(lens.name)} = value[0];`);
          emit(depth + 1, `else ${s} = withoutField(${s}, ${JSON.stringify(lens.name)});`);
        }
        emit(depth + 1, `if (!Array.isArray(value) || value.length !== 1) dropped[${key}] = value;`);
        emit(depth, "}");
        return;
      case "convert": {
        // The inverse of a convert swaps its tables, so `up` in the written direction is the `Up` helper.
        const forward = `${convertPrefix}Convert${lens.id}${direction === "up" ? "Up" : "Down"}`;
        const backward = `${convertPrefix}Convert${lens.id}${direction === "up" ? "Down" : "Up"}`;
        emit(depth, `if (${has(lens.name)}) {`);
        emit(depth + 1, `if (Object.hasOwn(restore, ${key})) {`);
        emit(depth + 2, `${field(lens.name)} = restore[${key}];`);
        emit(depth + 1, "} else {");
        emit(depth + 2, `const value = ${field(lens.name)};`);
        emit(depth + 2, `const mapped = ${forward}(value);`);
        emit(depth + 2, `${field(lens.name)} = mapped;`);
        emit(depth + 2, `if (${backward}(mapped) !== value) dropped[${key}] = value;`);
        emit(depth + 1, "}");
        emit(depth, "}");
        return;
      }
      case "in": {
        const inner = `s${++counter}`;
        const value = `v${counter}`;
        emit(depth, "{");
        emit(depth + 1, `const ${value} = ${field(lens.name)};`);
        emit(depth + 1, `if (isObject(${value})) {`);
        emit(depth + 2, `let ${inner}: JsonObject = { ...${value} };`);
        compileList(lens.lenses, inner, child(pointer, lens.name), depth + 2);
        // Set once the lenses inside are done: they may have replaced the copy.
        emit(depth + 2, `${field(lens.name)} = ${inner};`);
        emit(depth + 1, "}");
        emit(depth, "}");
        return;
      }
      case "map": {
        const inner = `s${++counter}`;
        const index = `i${counter}`;
        const value = `v${counter}`;
        emit(depth, "{");
        emit(depth + 1, `const ${value} = ${field(lens.name)};`);
        emit(depth + 1, `if (Array.isArray(${value})) {`);
        const header = lines.length;
        emit(depth + 2, `${field(lens.name)} = ${value}.map((item: unknown, ${index}: number) => {`);
        emit(depth + 3, `if (!isObject(item)) return item;`);
        emit(depth + 3, `let ${inner}: JsonObject = { ...item };`);
        const itemPointer = `${pointerSource(child(pointer, lens.name))} + "/" + ${index}`;
        compileList(lens.lenses, inner, { dynamic: itemPointer }, depth + 3);
        // Only lenses that keep residue read an item's pointer; lenses that only move fields
        // (a rename) do not, and an unread index fails projects that set noUnusedLocals.
        const indexRead = `"/" + ${index}`;
        if (!lines.slice(header + 1).some((line) => line.includes(indexRead))) lines[header] = lines[header]!.replace(`, ${index}: number`, "");
        emit(depth + 3, `return ${inner};`);
        emit(depth + 2, "});");
        emit(depth + 1, "}");
        emit(depth, "}");
        return;
      }
      case "escape": {
        // For the downgrade `lens` is already inverted, so `up` names the function of this direction.
        const fn = lens.up;
        emit(depth, "{");
        // Checked against the lens signature, then called as one (see the Lens type in the template).
        emit(depth + 1, `const kept = (${names.functions}.${fn} satisfies Lens as Lens)(${s}, restore[${key}], ${names.context});`);
        emit(depth + 1, `if (kept !== undefined) dropped[${key}] = kept;`);
        emit(depth, "}");
        return;
      }
    }
  };
  compileList(lenses, "s0", { static: "" }, 0);
  lines.push("return s0;");
  return lines.join("\n");
}

type Pointer = { static: string } | { dynamic: string };

function child(pointer: Pointer, name: string): Pointer {
  const segment = name.replace(/~/g, "~0").replace(/\//g, "~1");
  return "static" in pointer ? { static: `${pointer.static}/${segment}` } : { dynamic: `${pointer.dynamic} + ${JSON.stringify(`/${segment}`)}` };
}

function pointerSource(pointer: Pointer): string {
  return "static" in pointer ? JSON.stringify(pointer.static) : pointer.dynamic;
}

function pointerExpr(pointer: Pointer, name: string): string {
  return pointerSource(child(pointer, name));
}

/** A JSON value as a TS expression: a fresh object or array on every evaluation. */
function literal(value: unknown): string {
  return JSON.stringify(value);
}

function notEqual(expr: string, value: unknown): string {
  if (value === null || typeof value !== "object") return `${expr} !== ${literal(value)}`;
  // `{}` is the usual object default: asked directly, without building one to compare with.
  if (!Array.isArray(value) && Object.keys(value).length === 0) return `!isEmptyObject(${expr})`;
  return `!jsonEqual(${expr}, ${literal(value)})`;
}
