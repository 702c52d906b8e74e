/**
 * A realistic v0.3, grown from the bundled v0.2 in a temporary schemas folder as a protocol
 * team grows it: a new subject template with a zone part (`task`, subjects ending `.tasks`,
 * so a new stream per zone), a new message type on it (`signal.task.progress`), a renamed
 * field on an existing type with its transform (`signal.result.ready` payload `output` ->
 * `result`), and a type on the old template that v0.2 lacks (`event.node.drained`).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { editFile } from "./temp-schemas.js";
import { copyV02AsV03, PROTOCOL_LENSES } from "./v03-from-v02.js";

/** The new template's key and its message type. */
export const TASK_TEMPLATE = "task";
export const PROGRESS_TYPE = "signal.task.progress";
export const DRAINED_TYPE = "event.node.drained";

/** Writes `schemas/v0.3` and its transform from v0.2; nothing else. */
export async function writeGrownV03(schemas: string): Promise<void> {
  const v03 = await copyV02AsV03(schemas, [
    ["New subject template `task` (`….tasks`) and message type `signal.task.progress` on it.", "Progress reports are many; they get a stream of their own."],
    ["`signal.result.ready` payload `output` renamed to `result`.", "Every other payload names its product `result`."],
    ["New message type `event.node.drained`.", "A drain that completes is announced, so schedulers stop waiting."],
  ]);
  await editFile(join(v03, "manifest.yaml"), (text) =>
    text
      .replace(
        "      entity_id: /source/entity_id\n\nrecords:",
        [
          "      entity_id: /source/entity_id",
          "  task:",
          '    template: "jetstream.onex.zone.{zone_id}.{entity_type}.{entity_id}.tasks"',
          "    params:",
          "      zone_id: /source/zone",
          "      entity_type: /source/entity_type",
          "      entity_id: /source/entity_id",
          "",
          "records:",
        ].join("\n"),
      )
      .replace(
        "messages:\n",
        [
          "messages:",
          `  - type: ${PROGRESS_TYPE}`,
          "    name: TaskProgress",
          "    payload: messages/task-progress.yaml",
          `    subject: ${TASK_TEMPLATE}`,
          `  - type: ${DRAINED_TYPE}`,
          "    name: NodeDrained",
          "    payload: messages/node-drained.yaml",
          "    subject: event",
          "",
        ].join("\n"),
      ),
  );
  await editFile(join(v03, "records", "protocol.yaml"), (text) => text.replace('const: "0.2"', 'const: "0.3"'));
  await editFile(join(v03, "messages", "result-ready.yaml"), (text) => text.replace("  output:\n", "  result:\n"));
  const schema = (description: string, required: string[], properties: string[]) =>
    ["$schema: https://json-schema.org/draft/2020-12/schema", `description: ${description}`, "type: object", "additionalProperties: false", `required: [${required.join(", ")}]`, "properties:", ...properties, ""].join("\n");
  await writeFile(
    join(v03, "messages", "task-progress.yaml"),
    schema("How far a dispatched task has got.", ["task_id", "percent"], ["  task_id:", "    type: string", "    minLength: 1", "  percent:", "    type: integer", "    minimum: 0", "    maximum: 100"]),
  );
  await writeFile(
    join(v03, "messages", "node-drained.yaml"),
    schema("A node finished draining; it takes no new tasks.", ["node_id"], ["  node_id:", "    type: string", "    minLength: 1"]),
  );
  await writeFile(
    join(v03, "from-v0.2.yaml"),
    `# v0.2 -> v0.3, written in the upgrade direction (docs/transforms.md).
from: "0.2"
to: "0.3"
description: Task progress on a template of its own, a renamed result, drained nodes.
functions: from-v0.2.ts

envelope:
  - escape: { up: protocolUp, down: protocolDown, touches: [protocol] }

types:
  signal.result.ready:
    - in:
        name: payload
        lenses:
          - rename: { from: output, to: result }
  event.node.register: []
  event.agent.started: []
  event.agent.stopped: []
  event.node.failed: []
  signal.task.dispatch: []
  signal.state.update: []
  event.artifact.announced: []
  signal.artifact.have: []
  signal.artifact.request: []

new_types: [${PROGRESS_TYPE}, ${DRAINED_TYPE}]
`,
  );
  await writeFile(
    join(v03, "from-v0.2.ts"),
    PROTOCOL_LENSES,
  );
}
