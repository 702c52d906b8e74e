/**
 * `--zone-storage` sizes (cli/byte-size.ts): every size from 1 byte to 2^53 - 1 in every unit is
 * read exactly; 0, and a size past what a number holds exactly (nats-server refused the config
 * it made, or read it as another size), are ONEX_E_USAGE naming the flag.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseByteSize } from "../../cli/byte-size.js";
import { ErrorCode, OnexError } from "../../runtime/errors.js";

const UNITS = { B: 1n, KB: 1024n, MB: 1024n ** 2n, GB: 1024n ** 3n, TB: 1024n ** 4n } as const;

describe("parseByteSize", () => {
  it("reads a size exactly when it is from 1 byte to 2^53 - 1, and refuses it naming the flag otherwise", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.constantFrom(...(Object.keys(UNITS) as (keyof typeof UNITS)[])), (n, unit) => {
        const bytes = n * UNITS[unit];
        const read = () => parseByteSize(`${n}${unit}`, "zone-storage");
        if (bytes >= 1n && bytes <= BigInt(Number.MAX_SAFE_INTEGER)) expect(read()).toBe(Number(bytes));
        else expect(read).toThrow(expect.objectContaining({ code: ErrorCode.Usage, message: expect.stringMatching(/^--zone-storage: /) }) as OnexError);
      }),
    );
  });

  it("refuses what is no size, naming the flag", () => {
    for (const text of ["", "-1", "1.5GB", "1e3", "10GiB", "ten"]) {
      expect(() => parseByteSize(text, "zone-storage")).toThrow(`--zone-storage: "${text}" is not a size like 512MB or 10GB`);
    }
  });
});
