/**
 * The runtime modules every generated SDK links against, apart from ajv's helpers. The
 * package build (runtime/bundle.mjs) injects this file into every entry point, so all of
 * them reach these modules and esbuild puts them in one shared chunk; left to itself it
 * made a chunk for each set of entry points that happened to use a module, and a service
 * importing a version's SDK loaded six runtime files, each costing its start-up a
 * resolution, a read and a compile. Nothing imports this file otherwise.
 */
import "./commonjs.js";
import "./errors.js";
import "./json-text.js";
import "./message.js";
import "./subject-token.js";
import "./transform.js";
import "./trust/envelope.js";
import "./trust/rfc3339-time.js";
import "./validation.js";
import "./version-order.js";
