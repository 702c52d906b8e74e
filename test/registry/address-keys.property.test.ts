/**
 * Canonical addresses and the store keys made of them, fuzzed (registry.md, runtime/registry/
 * address.ts): whatever text a peer or a store hands over, parsing gives the one address it
 * spells or refuses it with ONEX_E_ADDRESS_INVALID (a store key: no address), and every address
 * has exactly one spelling, as an address and as a key of each store, that leads back to it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ErrorCode, OnexError } from "../../runtime/errors.js";
import { buildAddress, EntityType, parseAddress, type CanonicalAddress } from "../../runtime/registry/address.js";
import { canonicalKvKey, natsKvKey, parseNatsKvKey } from "../../runtime/registry/nats-kv.js";
import { parsePathKey, pathKeyOf } from "../../runtime/registry/store-key.js";

const RUNS = { numRuns: 2_000 };
const ENTITY_TYPES = Object.values(EntityType) as string[];
// Every character a NATS KV key may hold (nats.js's validation, `^[-/=.\w]+$`).
const KV_KEY = /^[-/=.\w]+$/;

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const zone = fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."));
/** Ids of every kind: the usual node ids, text with dots, slashes, spaces, `~`, `=`, non-ASCII, lone surrogates, and the empty string. */
const id = fc.oneof(fc.stringMatching(/^node-[0-9a-f]{32}$/), fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: fc.constantFrom(".", "/", "~", "=", " ", "%", "é", "a", "Z", "-", "_", "\u{1F600}", "\uD800"), maxLength: 12 }));
/** Mostly valid parts, and parts that are wrong in each place. */
const parts = fc.record({
  zone: fc.oneof({ weight: 4, arbitrary: zone }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
  entityType: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ENTITY_TYPES) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
  id,
}) as fc.Arbitrary<CanonicalAddress>;

/** What building does with `p`: the address, or the code it refused with (anything else fails the test). */
function build(p: CanonicalAddress): { address: string } | { refused: string } {
  try {
    return { address: buildAddress(p) };
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    return { refused: error.code };
  }
}

/** Ids spelled with escapes, canonical or not (`~41` for `A`, `~2e` for `~2E`, `~C3~A9` for `é`, a cut-off `~4`). */
const escapedToken = fc.string({ unit: fc.constantFrom("~", "~", "0", "1", "2", "3", "4", "9", "A", "C", "E", "F", "a", "e", "-"), minLength: 1, maxLength: 9 });

/** Text that looks like addresses: real ones with a character changed, inserted or dropped, ids spelled with escapes, and text of no shape at all. */
const addressLike = fc.oneof(
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.tuple(zone, fc.constantFrom(...ENTITY_TYPES), escapedToken).map(([z, type, token]) => `onex://${z}/${type}/${token}`),
  fc.tuple(parts, fc.nat(), fc.string({ unit: "binary", maxLength: 3 }), fc.nat({ max: 2 })).map(([p, at, text, drop]) => {
    const built = build(p);
    const address = "address" in built ? built.address : `onex://${p.zone}/${p.entityType}/${p.id}`;
    const i = at % (address.length + 1);
    return address.slice(0, i) + text + address.slice(i + drop);
  }),
);

describe("canonical addresses", () => {
  it("an address built from any parts parses back to exactly those parts; parts no address holds are ONEX_E_ADDRESS_INVALID", () => {
    fc.assert(
      fc.property(parts, (p) => {
        const built = build(p);
        if ("refused" in built) expect(built.refused).toBe(ErrorCode.AddressInvalid);
        else expect(parseAddress(built.address)).toEqual({ zone: p.zone, entityType: p.entityType, id: p.id });
      }),
      RUNS,
    );
  });

  it("any text parses to the one address it spells, built again character for character, or is ONEX_E_ADDRESS_INVALID", () => {
    fc.assert(
      fc.property(addressLike, (text) => {
        let parsed: CanonicalAddress;
        try {
          parsed = parseAddress(text);
        } catch (error) {
          expect(error).toBeInstanceOf(OnexError);
          expect((error as OnexError).code).toBe(ErrorCode.AddressInvalid);
          return;
        }
        expect(buildAddress(parsed)).toBe(text);
      }),
      RUNS,
    );
  });

  it("hands out a fresh object each time: a caller changing one changes no later parse", () => {
    const address = buildAddress({ zone: "zone.a.org", entityType: EntityType.Node, id: "n.1" });
    const first = parseAddress(address);
    first.id = "changed";
    first.zone = "other.org";
    expect(parseAddress(address)).toEqual({ zone: "zone.a.org", entityType: "node", id: "n.1" });
  });
});

describe("store keys", () => {
  const valid = parts.filter((p) => "address" in build(p));

  it("each address's NATS KV key is a legal key of three tokens and parses back to it", () => {
    fc.assert(
      fc.property(valid, (p) => {
        const key = natsKvKey(p);
        expect(key).toMatch(KV_KEY);
        expect(key.split(".")).toHaveLength(3);
        expect(parseNatsKvKey(key)).toEqual({ zone: p.zone, entityType: p.entityType, id: p.id });
      }),
      RUNS,
    );
  });

  it("each address's path key (etcd, Consul) holds no `/` of its own and parses back to it under its prefix only", () => {
    fc.assert(
      fc.property(valid, fc.constantFrom("/onex/", "reg/a/", ""), (p, prefix) => {
        const key = pathKeyOf(prefix, p);
        expect(key.slice(prefix.length).split("/")).toHaveLength(3);
        expect(parsePathKey(prefix, key)).toEqual({ zone: p.zone, entityType: p.entityType, id: p.id });
        expect(parsePathKey(`${prefix}x/`, key)).toBeUndefined();
      }),
      RUNS,
    );
  });

  it("two different addresses never share a key in either store", () => {
    fc.assert(
      fc.property(valid, valid, (a, b) => {
        fc.pre(buildAddress(a) !== buildAddress(b));
        expect(natsKvKey(a)).not.toBe(natsKvKey(b));
        expect(pathKeyOf("/r/", a)).not.toBe(pathKeyOf("/r/", b));
      }),
      RUNS,
    );
  });

  it("any key a store hands over is no address or a valid one, whose own key names it again", () => {
    const keyLike = fc.oneof(
      fc.string({ unit: "binary", maxLength: 50 }),
      fc.tuple(valid, fc.nat(), fc.string({ unit: fc.constantFrom(".", "/", "=", "~", "*", ">", "a", "2", "E"), maxLength: 3 })).map(([p, at, text]) => {
        const key = natsKvKey(p);
        const i = at % (key.length + 1);
        return key.slice(0, i) + text + key.slice(i);
      }),
    );
    fc.assert(
      fc.property(keyLike, (key) => {
        for (const parsed of [parseNatsKvKey(key), parsePathKey("", key.replaceAll(".", "/"))]) {
          if (parsed === undefined) continue;
          const address = buildAddress(parsed);
          expect(parseAddress(address)).toEqual(parsed);
          expect(parseNatsKvKey(natsKvKey(parsed))).toEqual(parsed);
        }
      }),
      RUNS,
    );
  });

  it("a NATS KV key is an address's own key exactly when natsKvKey spells that address so", () => {
    // Keys with `~` where natsKvKey writes `=`, escapes that are not canonical, and keys of no shape.
    const keyLike = fc.oneof(
      fc.string({ unit: "binary", maxLength: 50 }),
      fc.tuple(zone, fc.constantFrom(...ENTITY_TYPES), escapedToken).map(([z, type, token]) => `${natsKvKey({ zone: z, entityType: type as EntityType, id: "x" }).split(".")[0]}.${type}.${token}`),
      fc.tuple(valid, fc.nat(), fc.constantFrom("~", "=")).map(([p, at, mark]) => {
        const key = natsKvKey(p);
        const escapes = [...key.matchAll(/=/g)];
        if (escapes.length === 0) return key;
        const i = escapes[at % escapes.length]!.index;
        return key.slice(0, i) + mark + key.slice(i + 1);
      }),
    );
    fc.assert(
      fc.property(keyLike, (key) => {
        const parsed = parseNatsKvKey(key);
        const own = parsed !== undefined && natsKvKey(parsed) === key;
        expect(canonicalKvKey(key)).toEqual(own ? parsed : undefined);
      }),
      RUNS,
    );
  });
});
