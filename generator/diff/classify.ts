/**
 * The compatibility rules of `onex diff`: what each kind of schema change does to BACKWARD
 * (readers on the new schema, data written with the old) and FORWARD (readers on the old
 * schema, data written with the new) compatibility. The reasoning is in docs/transforms.md,
 * "Breaking changes and `onex diff`"; the rules follow Confluent's JSON Schema checker.
 */

/** Every kind of change the comparison reports. */
export const CHANGE_KINDS = [
  "message-type-added",
  "message-type-removed",
  "property-added",
  "property-removed",
  "required-added",
  "required-removed",
  "content-model-closed",
  "content-model-opened",
  "type-changed",
  "type-narrowed",
  "type-widened",
  "scalar-to-array",
  "array-to-scalar",
  "scalar-to-object",
  "object-to-scalar",
  "enum-narrowed",
  "enum-extended",
  "const-added",
  "const-removed",
  "const-changed",
  "constraint-added",
  "constraint-removed",
  "constraint-tightened",
  "constraint-relaxed",
  "constraint-changed",
  "pattern-property-added",
  "pattern-property-removed",
  "branch-added",
  "branch-removed",
  "combinator-changed",
  "keyword-changed",
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** How a property's object lets in properties it does not list. */
export const ContentModel = {
  /** `additionalProperties: false`: nothing else. */
  Closed: "closed",
  /** `additionalProperties` absent or `true`: anything else. */
  Open: "open",
  /** `additionalProperties: <schema>`: anything matching that schema. */
  Partial: "partial",
} as const;
export type ContentModel = (typeof ContentModel)[keyof typeof ContentModel];

/** Which compatibility directions a change breaks. */
export interface Effect {
  backward: boolean;
  forward: boolean;
}

/** One difference between the old and the new schema of a message type. */
export interface SchemaChange {
  kind: ChangeKind;
  /** JSON Pointer into the message instance (`/payload/targets`; `-` stands for any array item, `*` for any map value); "" for the whole message. */
  path: string;
  /** What changed, for a person. */
  detail: string;
  /** Facts the rules need for property changes. */
  facts?: PropertyFacts;
  /** Found inside `not`: what the subschema gains, the schema loses, so the effect swaps directions. */
  inverted?: boolean;
}

/**
 * For property-added / property-removed (and pattern-property-*, where L's pattern governs
 * every property whose name matches, and `required` is false). Call the side that lists the property L (new for an
 * added property, old for a removed one) and the side that lacks it M.
 */
export interface PropertyFacts {
  /** M's content model: whether M's data can carry the property as an unlisted one. */
  lackingModel: ContentModel;
  /** Whether L requires the property. */
  required: boolean;
  /** Open or partial M: can M's data hold a value for it that L's property schema rejects? */
  lackingAdmitsForeign: boolean;
  /** Partial M: does every value L's property schema allows pass M's additionalProperties schema? */
  propertyFitsLacking: boolean;
}

/** Effects of the kinds whose effect does not depend on facts. */
const FIXED_EFFECTS: Record<Exclude<ChangeKind, "property-added" | "property-removed" | "pattern-property-added" | "pattern-property-removed">, Effect> = {
  // A type old readers do not know: new writers can send it to them.
  "message-type-added": { backward: false, forward: true },
  // Old data of that type has no reader on the new schema.
  "message-type-removed": { backward: true, forward: false },
  // Old data may lack the property; new data always has it.
  "required-added": { backward: true, forward: false },
  // New data may lack the property old readers require.
  "required-removed": { backward: false, forward: true },
  // Old data may carry unlisted properties the new schema now rejects.
  "content-model-closed": { backward: true, forward: false },
  // New data may carry unlisted properties old readers reject.
  "content-model-opened": { backward: false, forward: true },
  // Disjoint value sets in both directions.
  "type-changed": { backward: true, forward: true },
  "scalar-to-array": { backward: true, forward: true },
  "array-to-scalar": { backward: true, forward: true },
  "scalar-to-object": { backward: true, forward: true },
  "object-to-scalar": { backward: true, forward: true },
  // The new schema accepts fewer values: old data may hold one it rejects.
  "type-narrowed": { backward: true, forward: false },
  "enum-narrowed": { backward: true, forward: false },
  "const-added": { backward: true, forward: false },
  "constraint-added": { backward: true, forward: false },
  "constraint-tightened": { backward: true, forward: false },
  // The new schema accepts more values: new data may hold one old readers reject.
  "type-widened": { backward: false, forward: true },
  "enum-extended": { backward: false, forward: true },
  "const-removed": { backward: false, forward: true },
  "constraint-removed": { backward: false, forward: true },
  "constraint-relaxed": { backward: false, forward: true },
  // Neither side's value set contains the other's (a pattern, format, multipleOf or const swapped for another).
  "const-changed": { backward: true, forward: true },
  "constraint-changed": { backward: true, forward: true },
  // A branch of anyOf (or of a oneOf whose branches cannot overlap) accepts more values; without it, fewer.
  "branch-added": { backward: false, forward: true },
  "branch-removed": { backward: true, forward: false },
  // Undecidable structurally (a oneOf whose branches may overlap, a changed `if`): the detail says so, and the worst is assumed.
  "combinator-changed": { backward: true, forward: true },
  // A keyword onex does not analyse (unevaluatedProperties, $dynamicRef...) changed: the worst is assumed.
  "keyword-changed": { backward: true, forward: true },
};

/** The compatibility effect of one change. */
export function classify(change: SchemaChange): Effect {
  const effect =
    change.kind === "property-added" || change.kind === "pattern-property-added"
      ? propertyEffect(change.facts!, "added")
      : change.kind === "property-removed" || change.kind === "pattern-property-removed"
        ? propertyEffect(change.facts!, "removed")
        : FIXED_EFFECTS[change.kind];
  return change.inverted ? { backward: effect.forward, forward: effect.backward } : effect;
}

/**
 * A property present on one side only (L lists it, M lacks it; see PropertyFacts). Data
 * written against M can still carry it as an unlisted property when M is open or partial.
 */
function propertyEffect(facts: PropertyFacts, direction: "added" | "removed"): Effect {
  // M's data read by L's reader: M may carry the property as an unlisted one with a value L
  // rejects, and M's data need not carry it at all while L requires it.
  const lackingDataBreaks = (facts.lackingModel !== ContentModel.Closed && facts.lackingAdmitsForeign) || facts.required;
  // L's data read by M's reader: M rejects the property outright (closed) or some of its values (partial).
  const listingDataBreaks = facts.lackingModel === ContentModel.Closed || (facts.lackingModel === ContentModel.Partial && !facts.propertyFitsLacking);
  // Added: M is old, L is new, so "M's data, L's reader" is BACKWARD. Removed: the other way round.
  return direction === "added"
    ? { backward: lackingDataBreaks, forward: listingDataBreaks }
    : { backward: listingDataBreaks, forward: lackingDataBreaks };
}

/** The compatibility level an effect set leaves: FULL (both), BACKWARD, FORWARD or NONE. */
export function verdictOf(effects: readonly Effect[]): Verdict {
  const backward = !effects.some((e) => e.backward);
  const forward = !effects.some((e) => e.forward);
  if (backward && forward) return Verdict.Full;
  if (backward) return Verdict.Backward;
  if (forward) return Verdict.Forward;
  return Verdict.None;
}

/** Which compatibility a message type keeps between two versions. */
export const Verdict = {
  /** New readers read old data and old readers read new data. */
  Full: "FULL",
  /** New readers read old data; old readers may fail on new data. */
  Backward: "BACKWARD",
  /** Old readers read new data; new readers may fail on old data. */
  Forward: "FORWARD",
  /** Neither. */
  None: "NONE",
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** "breaks BACKWARD", "breaks FORWARD", "breaks both", "compatible". */
export function describeEffect(effect: Effect): string {
  if (effect.backward && effect.forward) return "breaks BACKWARD+FORWARD";
  if (effect.backward) return "breaks BACKWARD";
  if (effect.forward) return "breaks FORWARD";
  return "compatible";
}
