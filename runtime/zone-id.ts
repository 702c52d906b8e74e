/**
 * The one rule for a zone id, which every version of the protocol gives the zone a message
 * carries (`zone.trusted.org`): lower-case DNS labels joined by dots, at most 253 characters.
 *
 * One rule, not one per version: a zone names things every version shares (its NATS accounts
 * and streams, its registry addresses, whose host position it takes, and its grants), and
 * `onex migrate` carries it unchanged from one version to the next, so a zone one version could
 * carry and another could not would split all of them. test/sdk/zone-id-rule.test.ts holds each
 * version's schemas to this rule, so a version that changes it fails there rather than here.
 */
import { ErrorCode, OnexError } from "./errors.js";

/** The rule as a person reads it, for refusals. */
export const ZONE_ID_RULE = "lower-case DNS labels (a-z, 0-9 and inner -) joined by dots, at most 253 characters, for example zone.trusted.org";

const ZONE_ID = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const MAX_ZONE_ID = 253;

/** Whether `zone` is a zone id a message can carry. */
export function isZoneId(zone: unknown): zone is string {
  return typeof zone === "string" && zone.length <= MAX_ZONE_ID && ZONE_ID.test(zone);
}

/**
 * ONEX_E_USAGE unless `zone` is a zone id a message can carry: a config, stream or filter for
 * a zone no message can name serves nothing, so the operator hears of it at once. `where` says
 * whose zone it is (`--zone`, `identity 2`), as the refusal names it.
 */
export function assertZoneId(zone: unknown, where: string): asserts zone is string {
  if (isZoneId(zone)) return;
  const shown = typeof zone === "string" ? JSON.stringify(zone.length > 80 ? `${zone.slice(0, 80)}…` : zone) : String(zone);
  throw new OnexError(ErrorCode.Usage, `${where}: zone ${shown} is no zone a message can name: a zone id is ${ZONE_ID_RULE}`, { zone: typeof zone === "string" ? zone.slice(0, 80) : String(zone) });
}
