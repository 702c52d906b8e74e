/**
 * Advice to create or change the streams, for both who read it: an operator with the `onex`
 * command, and a service that has only the SDK and @onex/runtime (whose errors are read in its
 * logs, where `onex streams apply` named a command it does not have). Each names the command and
 * the runtime calls that do the same: `planStreams` (the streams the SDKs imply, with limits and
 * zones as the command's flags set them) and `applyStreams` on a JetStream manager.
 */

/** The runtime calls that do what `onex streams apply` does: `streams` is planStreams' arguments after the SDKs. */
export function applyStreamsInCode(streams = ""): string {
  return `applyStreams(jsm, planStreams(sdks${streams})) of @onex/runtime/jetstream`;
}

/** "run `onex streams apply`", and the same in code. */
export const APPLY_STREAMS = `run \`onex streams apply\` (in code: ${applyStreamsInCode()})`;

/** What creates a zoned deployment's streams, each zone's as its admin. */
export const APPLY_ZONE_STREAMS = `\`onex streams apply --identities\` (in code: ${applyStreamsInCode(", limits, deadLetterLimits, zones")}, connected as each zone's admin)`;

/** What raises the dead-letter streams' max_bytes. */
export const RAISE_LETTER_BYTES = `\`onex streams apply --dlq-max-bytes\` (in code: ${applyStreamsInCode(", limits, { maxBytes })")})`;

/** What limits the streams' and the dead-letter streams' sizes. */
export const LIMIT_STREAM_BYTES = `\`onex streams apply --max-bytes … --dlq-max-bytes …\` (in code: ${applyStreamsInCode(", { maxBytes }, { maxBytes })")})`;

/** What applies the streams with one copy each, as a server in no cluster keeps them. */
export const APPLY_ONE_REPLICA = `apply without \`--replicas\` (in code: planStreams with no \`replicas\` in its limits or dead-letter limits)`;
