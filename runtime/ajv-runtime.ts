/**
 * The helpers ajv's standalone validators call at run time. ajv emits `require()` for
 * them even in ESM mode; the generator rewrites those calls to these imports so the
 * generated validators load in a pure ESM consumer.
 */
import equal from "ajv/dist/runtime/equal.js";
import ucs2length from "ajv/dist/runtime/ucs2length.js";
import uri from "ajv/dist/runtime/uri.js";
import { fullFormats } from "ajv-formats/dist/formats.js";
import { commonJsDefault } from "./commonjs.js";

/** Runtime helper modules by the name ajv's standalone code uses for them. */
export const ajvRuntime: { equal: typeof equal.default; ucs2length: (s: string) => number; uri: unknown } = {
  equal: commonJsDefault(equal),
  ucs2length: commonJsDefault(ucs2length),
  uri: commonJsDefault(uri),
};

/** The format checks of ajv-formats' `full` mode. */
export const ajvFormats = fullFormats;
