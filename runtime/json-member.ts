/**
 * Sets a member of a JSON object as data. JSON.parse and a spread make a member named
 * `__proto__` an own member; a plain assignment would set the object's prototype instead,
 * and the member would be lost from what is signed, validated or written.
 */
export function setJsonMember(object: object, key: string, value: unknown): void {
  // Every other name is assigned: several times cheaper than defineProperty, and it runs per member of every message.
  if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else (object as Record<string, unknown>)[key] = value;
}
