/**
 * Node hands ESM importers a CommonJS module's `module.exports` as the default import, while
 * bundlers and vitest hand over its `exports.default`. This accepts either.
 */
export function commonJsDefault<T>(imported: { default: T } | T): T {
  const inner = (imported as { default?: T }).default;
  return inner ?? (imported as T);
}
