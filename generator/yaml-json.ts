/**
 * YAML read as JSON, by onex's YAML message input (cli/message-input.ts) and by the generator's
 * manifests, schemas and transforms (yaml-file.ts) alike: parsed with the same options, then one
 * walk refuses what JSON has not (a tag that is not JSON's, a key that is no JSON name or that
 * becomes the name of another, a lone surrogate) and gives each number the value the JSON reader
 * gives its text. A YAML document so read means what the same data written as JSON would.
 * Message input imports this module only when it reads YAML: it loads the yaml package.
 */
import { isAlias, isMap, isScalar, isSeq, visit, type Alias, type Document, type DocumentOptions, type Pair, type ParseOptions, type ScalarTag, type SchemaOptions } from "yaml";
import { ErrorCode, OnexError, parseJson, type BigIntegerMode } from "@onex/runtime";

/** The YAML tags of JSON's own values: any other (`!!binary`, `!!timestamp`, `!include`) would make something else, or be dropped. */
const JSON_TAGS: ReadonlySet<string> = new Set(["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`));

/**
 * `!!float 5`: YAML 1.2's core schema reads digits alone tagged float as a float, the yaml package
 * (its float forms have a point or an exponent) as no float, and the document was refused. Only
 * for a value tagged so: untagged digits stay an integer.
 */
const FLOAT_WRITTEN_AS_INTEGER: ScalarTag = { tag: "tag:yaml.org,2002:float", default: false, test: /^[-+]?[0-9]+$/, resolve: (text: string) => Number(text) };

/**
 * How YAML read as JSON is parsed. Integers as BigInt: one beyond 2^53 must not be rounded before
 * the walk can check it. No known tags: `!!binary` and the like are refused where they are
 * written, as unknown ones are. Give a `lineCounter` beside these to place what is refused.
 */
export const YAML_AS_JSON: ParseOptions & DocumentOptions & SchemaOptions = {
  prettyErrors: false,
  uniqueKeys: true,
  intAsBigInt: true,
  resolveKnownTags: false,
  customTags: (tags) => [...tags, FLOAT_WRITTEN_AS_INTEGER],
};

/** What a YAML document holds that JSON has not: the code, where (an offset in the text) and why. */
export interface YamlJsonProblem {
  code: ErrorCode;
  offset: number;
  message: string;
}

/** Where the readers of YAML as JSON differ. */
export interface YamlJsonOptions {
  /** An integer beyond 2^53: carried exactly as a BigInt (`onex migrate`), or refused as ONEX_E_NUMBER_RANGE. */
  bigIntegers: BigIntegerMode;
  /** The code of a key given twice, also as two keys that become one JSON name (`1` and `"1"`). */
  duplicateKey: ErrorCode;
  /**
   * Told of every node in document order, a node before what it holds, to judge the aliases
   * (yaml-aliases.ts); `alias` says why an alias is refused, if it is.
   */
  aliases?: {
    anchor(node: { anchor?: string }): void;
    alias(key: unknown, node: Alias, path: readonly unknown[]): string | undefined;
  };
}

/** A lone surrogate's escape (`"\ud800"`): refused as the JSON reader refuses it (I-JSON), with the same code and words. */
const LONE_SURROGATE = "a string escapes a lone UTF-16 surrogate (\\ud800-\\udfff without its pair), which JSON data onex reads may not hold";

/**
 * The first thing a parsed YAML document holds that JSON has not: a parse error, a tag that is
 * not JSON's or that its value does not fit, a key that is no scalar, two keys that become one
 * JSON name (`1` and `"1"`, `true` and `"true"`, `~` and `""`: the yaml package kept the last
 * silently), a lone surrogate in a value or a key, a number the JSON reader would refuse or
 * an integer beyond 2^53 (unless `bigIntegers` keeps it). Each number is given, in place, the
 * value the JSON reader gives its text. Also the merge keys (`<<`, YAML 1.1) met, for
 * `mergeProblem` once the aliases are resolved.
 */
export function yamlJsonProblem(doc: Document, options: YamlJsonOptions): { problem?: YamlJsonProblem; merges: Pair[] } {
  const merges: Pair[] = [];
  const parseError = doc.errors[0];
  if (parseError !== undefined) {
    const duplicate = parseError.code === "DUPLICATE_KEY";
    const why = parseError.message.split("\n")[0];
    const message = duplicate ? `a mapping names the same key twice: ${why}` : `not valid YAML: ${why}`;
    return { problem: { code: duplicate ? options.duplicateKey : ErrorCode.YamlSyntax, offset: parseError.pos[0], message }, merges };
  }
  // A tag the parser does not know, or one of JSON's its value does not fit (`!!int 1.5`), is only
  // a warning: the value is kept as written, a string or a mapping without its tag. At the tag.
  const unresolved = doc.warnings.find((warning) => warning.code === "TAG_RESOLVE_FAILED");
  if (unresolved !== undefined) {
    const tag = shortTag(unresolved.message.split("\n")[0]!.replace(/^Unresolved tag: /, ""));
    const message = `the tag ${tag} is not one onex reads, or its value does not fit it, so the tag would be dropped and the value read as written; fix the value, or write it without the tag`;
    return { problem: { code: ErrorCode.YamlSyntax, offset: unresolved.pos[0], message }, merges };
  }
  let problem: YamlJsonProblem | undefined;
  const refuse = (code: ErrorCode, node: { range?: [number, number, number] | null }, message: string) => {
    problem = { code, offset: node.range?.[0] ?? 0, message };
    return visit.BREAK;
  };
  const badTag = (node: { tag?: string; range?: [number, number, number] | null }) =>
    node.tag !== undefined && !JSON_TAGS.has(node.tag) ? refuse(ErrorCode.YamlSyntax, node, `the tag ${shortTag(node.tag)} makes a value JSON does not have; write the value plainly`) : undefined;
  visit(doc, {
    Alias(key, node, path) {
      const why = options.aliases?.alias(key, node, path);
      return why === undefined ? undefined : refuse(ErrorCode.YamlSyntax, node, why);
    },
    Seq(_key, node) {
      options.aliases?.anchor(node);
      return badTag(node);
    },
    Map(_key, node) {
      options.aliases?.anchor(node);
      const tagged = badTag(node);
      if (tagged !== undefined) return tagged;
      const names = new Set<string>();
      let merged = false;
      for (const pair of node.items) {
        const key = pair.key as { range?: [number, number, number] | null } | null;
        if (!isScalar(key) || (key.value !== null && typeof key.value === "object")) return refuse(ErrorCode.YamlSyntax, key ?? node, "a mapping key is not a plain value (a collection, or an alias); JSON names are strings");
        // A merge key (`<<` under %YAML 1.1) is the one key the yaml package makes a symbol. It
        // names no member, so it is kept out of the names: as String() of it, it was taken for a
        // key spelled "Symbol(<<)".
        if (typeof key.value === "symbol") {
          if (merged) return refuse(options.duplicateKey, key, "a mapping has two merge keys (<<); merge a sequence of mappings with one: <<: [*a, *b]");
          merged = true;
          merges.push(pair);
          continue;
        }
        // The name the conversion gives the key: 1 and "1", true and "true", null and "" are one JSON name.
        const name = key.value === null ? "" : String(key.value);
        if (names.has(name)) return refuse(options.duplicateKey, key, `two keys of a mapping are the same JSON name, ${JSON.stringify(name)} (as 1 and "1", true and "true", ~ and "" are), of which the data would keep only the last`);
        names.add(name);
        // Written as its name: the yaml package's merge (`<<: *m`) wrote a merged ~ key as "null".
        // Not a key with an anchor: an alias of it (`&k ~`, then `*k`) is a null value.
        if (key.value === null && key.anchor === undefined) key.value = "";
      }
      return undefined;
    },
    Scalar(_key, node) {
      options.aliases?.anchor(node);
      const tagged = badTag(node);
      if (tagged !== undefined) return tagged;
      const { value } = node;
      if (typeof value === "string") return (value as string & { isWellFormed(): boolean }).isWellFormed() ? undefined : refuse(ErrorCode.CanonicalJson, node, LONE_SURROGATE);
      // A `%YAML 1.1` document resolves some plain values to objects without a tag (2025-06-01 to a Date).
      if (value !== null && typeof value === "object") return refuse(ErrorCode.YamlSyntax, node, `${String(node.source).slice(0, 40)} is read as a value JSON does not have; quote it`);
      if (typeof value === "bigint") {
        if (Number.isSafeInteger(Number(value))) node.value = Number(value);
        else if (options.bigIntegers === "refuse") return refuse(ErrorCode.NumberRange, node, `a number onex will not change: integer ${String(value).slice(0, 40)} is beyond 2^53 and would be changed by rounding`);
      } else if (typeof value === "number") {
        // Read by the JSON reader, so a number means the same in YAML as in JSON (exact integers, no underflow to 0).
        const json = typeof node.source === "string" ? jsonNumberText(node.source) : undefined;
        if (json !== undefined) {
          try {
            node.value = parseJson(json, { bigIntegers: options.bigIntegers });
          } catch (error) {
            if (!(error instanceof OnexError)) throw error;
            // The JSON reader's position is within the number's text; the node's is the document's.
            return refuse(error.code as ErrorCode, node, error.message.replace(/ at line 1 column \d+:/, ":"));
          }
        } else if (!Number.isFinite(value)) return refuse(ErrorCode.NumberRange, node, `a number onex will not change: ${String(node.source).slice(0, 40)} is not a finite number, which JSON cannot hold`);
      }
      return undefined;
    },
  });
  return problem === undefined ? { merges } : { problem, merges };
}

/**
 * The first merge key whose value is not a mapping or a sequence of mappings, which the yaml
 * package refuses with a plain Error as it converts the document. Its aliases resolved by the
 * reader already, or here through `doc`.
 */
export function mergeProblem(merges: readonly Pair[], doc?: Document): YamlJsonProblem | undefined {
  const resolved = (node: unknown) => (doc !== undefined && isAlias(node) ? node.resolve(doc) : node);
  const merge = merges.find(({ value }) => {
    const merged = resolved(value);
    return !(isMap(merged) || (isSeq(merged) && merged.items.every((item) => isMap(resolved(item)))));
  });
  if (merge === undefined) return undefined;
  const key = merge.key as { range?: [number, number, number] | null };
  return { code: ErrorCode.YamlSyntax, offset: key.range?.[0] ?? 0, message: "the merge key << takes only a mapping or a sequence of mappings; write the members out" };
}

/** A tag as it is written: `!!int` for tag:yaml.org,2002:int. */
function shortTag(tag: string): string {
  return tag.replace(/^tag:yaml\.org,2002:/, "!!");
}

/** A YAML float's text in JSON's syntax (`+.5` is `0.5`, `5.` is `5`, `007.5` is `7.5`); undefined when it has none (`.inf`, `.nan`). */
function jsonNumberText(source: string): string | undefined {
  const match = /^([-+]?)([0-9]*)(?:\.([0-9]*))?([eE][-+]?[0-9]+)?$/.exec(source);
  if (match === null || (match[2] === "" && !match[3])) return undefined;
  const whole = match[2]!.replace(/^0+(?=[0-9])/, "") || "0";
  return `${match[1] === "-" ? "-" : ""}${whole}${match[3] ? `.${match[3]}` : ""}${match[4] ?? ""}`;
}
