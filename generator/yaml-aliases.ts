/**
 * The aliases of one YAML document (messages, or a schema file), resolved by onex instead of by
 * the yaml package.
 *
 * The yaml package resolves each alias by a walk: over the anchors before it, and for an alias
 * inside an aliased collection (its "billion laughs" count) over the whole document. A thousand
 * aliases after a million anchors took 78 s to read, and after a 300,000-line sequence 34 s.
 * Its count of aliases also let a large collection be aliased 99 times: a 6 MB document took
 * 3 GB, and a larger one ran the process out of memory.
 *
 * Here the visit of the document notes each anchor and alias in document order (a node before
 * its contents), so an alias names the last node anchored so before it, read from a map; each
 * alias adds the values its node stands for to a budget, refused once past it; and once the
 * document is found good, each alias is replaced by the node it names, so the conversion to
 * JavaScript meets no alias at all.
 */
import { MAX_JSON_DEPTH } from "@onex/runtime";
import { isAlias, isDocument, isMap, isPair, isSeq, type Alias } from "yaml";

/** The most values (scalars, mappings, sequences) the aliases of one document may stand for. */
export const MAX_YAML_ALIAS_VALUES = 1_000_000;

export class YamlAliases {
  /** The node each anchor names so far. */
  readonly #anchored = new Map<string, unknown>();
  /** The node each alias met names. */
  readonly #targets = new Map<Alias, unknown>();
  /** Each alias met: the node holding it, where, and the node it names. */
  readonly #met: { parent: unknown; key: unknown; target: unknown }[] = [];
  /** The values each named node stands for, its aliases expanded: each counted once. */
  readonly #values = new Map<unknown, number>();
  /** How deep each named collection nests, its aliases expanded. */
  readonly #depths = new Map<unknown, number>();
  #budget = MAX_YAML_ALIAS_VALUES;

  /** `holds`: what the document is, for the advice of a refusal. */
  constructor(private readonly holds: "messages" | "schema" = "messages") {}

  /** A scalar, mapping or sequence met by the visit; it may carry an anchor. */
  anchor(node: { anchor?: string }): void {
    if (node.anchor !== undefined) this.#anchored.set(node.anchor, node);
  }

  /** An alias met by the visit, with the visit's key and path; why it is refused, if it is. */
  alias(key: unknown, node: Alias, path: readonly unknown[]): string | undefined {
    const target = this.#anchored.get(node.source);
    // No anchor before it: the conversion refuses it, naming it.
    if (target === undefined) return undefined;
    // An alias inside the value it names (`a: &x [*x]`) makes a value that never ends.
    if (path.includes(target)) return `the alias *${node.source} is inside the value it names, which would never end; write the value out`;
    // The text nests at most MAX_YAML_DEPTH levels, but an alias nests what it names where it
    // stands: a chain of anchors, each a few hundred levels inside the next, nested a 42 KB
    // document 20,000 levels deep, and converting it overflowed the stack, losing the whole input.
    const nested = this.#depthOf(target);
    if (nested + path.length > MAX_JSON_DEPTH) {
      const depth = nested + path.filter((parent) => isSeq(parent) || isMap(parent)).length;
      if (depth > MAX_JSON_DEPTH) return `the alias *${node.source} nests what it names ${depth.toLocaleString("en")} levels deep, deeper than the ${MAX_JSON_DEPTH.toLocaleString("en")} levels ${this.holds === "schema" ? "a schema may nest; write the schema" : "a message may nest; write the message"} less deeply nested`;
    }
    this.#targets.set(node, target);
    const values = this.#valuesOf(target);
    this.#values.set(target, values);
    this.#budget -= values;
    if (this.#budget < 0) return `the aliases of a document stand for more than ${MAX_YAML_ALIAS_VALUES.toLocaleString("en")} values, more than onex holds in memory for one; write the values out${this.holds === "schema" ? "" : ", or split the messages into documents (---)"}`;
    this.#met.push({ parent: path.at(-1), key, target });
    return undefined;
  }

  /** Replaces each alias by the node it names (shared: the conversion makes a copy for each place). */
  expand(): void {
    for (const { parent, key, target } of this.#met) {
      if (isSeq(parent)) parent.items[key as number] = target;
      else if (isPair(parent)) parent[key as "key" | "value"] = target;
      else if (isDocument(parent)) parent.contents = target as never;
    }
  }

  /** How many collections deep `node` nests, its aliases expanded (each met before it, so already known). */
  #depthOf(node: unknown): number {
    if (isAlias(node)) return this.#targets.has(node) ? this.#depthOf(this.#targets.get(node)) : 0;
    if (!isSeq(node) && !isMap(node)) return 0;
    const known = this.#depths.get(node);
    if (known !== undefined) return known;
    let deepest = 0;
    if (isSeq(node)) for (const item of node.items) deepest = Math.max(deepest, this.#depthOf(item));
    else for (const pair of node.items) deepest = Math.max(deepest, this.#depthOf(pair.key), this.#depthOf(pair.value));
    this.#depths.set(node, deepest + 1);
    return deepest + 1;
  }

  /** How many values `node` stands for, its aliases expanded (each met before it, so already counted). */
  #valuesOf(node: unknown): number {
    if (node === null || node === undefined) return 0;
    if (isAlias(node)) return this.#targets.has(node) ? this.#valuesOf(this.#targets.get(node)) : 1;
    const known = this.#values.get(node);
    if (known !== undefined) return known;
    let count = 1;
    if (isSeq(node)) for (const item of node.items) count += this.#valuesOf(item);
    else if (isMap(node)) for (const pair of node.items) count += this.#valuesOf(pair.key) + this.#valuesOf(pair.value);
    this.#values.set(node, count);
    return count;
  }
}
