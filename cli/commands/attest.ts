import { Flags } from "@oclif/core";
import { ErrorCode, OnexError, parseJson } from "@onex/runtime";
import { attestExecution } from "@onex/runtime";
import { OnexCommand } from "../base-command.js";
import { privateKeyFlags, readJsonFile, readPrivateKey } from "../key-files.js";

export default class Attest extends OnexCommand {
  static override summary = "Sign an execution attestation for a task and its result.";
  static override description =
    "Computes trace_hash = sha256 of the canonical task and result and signs an ExecutionAttestation with the node's key. --task and --result take the payloads, or whole signal.task.dispatch / signal.result.ready messages (their payloads are used; a result's own attestation is left out). Prints the attestation as JSON.";
  static override examples = [
    "<%= config.bin %> attest --key node-1.key --node node-3f2a... --task dispatch.json --result result.json --outcome succeeded --trust-delta 0.05 --execution-time 1830 --cost 0.4 --verified",
  ];

  static override flags = {
    key: Flags.string({ description: "The node's private key file.", required: true }),
    node: Flags.string({ description: "Node id of the node that ran the task.", required: true }),
    task: Flags.string({ description: "The task: a signal.task.dispatch message or its payload (JSON file).", required: true }),
    result: Flags.string({ description: "The result: a signal.result.ready message or its payload (JSON file).", required: true }),
    outcome: Flags.string({ description: "How the task ended.", options: ["succeeded", "failed", "cancelled"], required: true }),
    "trust-delta": Flags.string({ description: "Proposed reputation change, in [-1, 1].", required: true }),
    "execution-time": Flags.string({ description: "Wall-clock execution time in ms.", required: true }),
    cost: Flags.string({ description: "Cost of the execution (>= 0)." }),
    verified: Flags.boolean({ description: "The result was checked (re-run or validated), not only relayed.", default: false }),
    ...privateKeyFlags,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Attest);
    // Read before any file, so a bad number is refused whatever else is wrong, and nothing is signed with it.
    const trustDelta = number(flags["trust-delta"], "trust-delta", { min: -1, max: 1 });
    const executionTime = number(flags["execution-time"], "execution-time", { min: 0 });
    const cost = flags.cost === undefined ? undefined : number(flags.cost, "cost", { min: 0 });
    const key = readPrivateKey(flags.key, { allowUnprotected: flags["allow-unprotected-key"] });
    const task = payloadOf(readJsonFile(flags.task, "task"), "signal.task.dispatch");
    const result = payloadOf(readJsonFile(flags.result, "result"), "signal.result.ready");
    if (typeof (task as { task_id?: unknown }).task_id !== "string") throw new OnexError(ErrorCode.ValidationFailed, `${flags.task} has no string task_id`, { file: flags.task });
    if (result !== null && typeof result === "object" && "attestation" in result) delete (result as { attestation?: unknown }).attestation;
    const attestation = attestExecution(
      {
        task: task as { task_id: string } & Record<string, unknown>,
        result,
        node: flags.node,
        outcome: flags.outcome as "succeeded" | "failed" | "cancelled",
        trustDelta,
        executionTime,
        verified: flags.verified,
        ...(cost === undefined ? {} : { cost }),
      },
      key,
    );
    await this.print(JSON.stringify(attestation, null, 2));
    this.logToStderr(`attested task ${attestation.task_id} on ${attestation.node} (${attestation.trace_hash}), signed by ${key.keyId}`);
  }
}

/** The payload of a whole message of `type`, or the value itself when it is already a payload. */
function payloadOf(value: unknown, type: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new OnexError(ErrorCode.ValidationFailed, `expected a JSON object (a ${type} message or its payload)`);
  const record = value as Record<string, unknown>;
  if (record.type === type && record.payload !== null && typeof record.payload === "object") return { ...(record.payload as Record<string, unknown>) };
  return { ...record };
}

/** JSON's number syntax, decimal only: Number() would also take 0x10, 0b1, " 1" or "" (as 0). */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * A number flag, read by onex's JSON reader so the attestation signs exactly the number given:
 * ONEX_E_USAGE when it is no decimal number, ONEX_E_NUMBER_RANGE when a double cannot hold it
 * (1e-400 would sign 0, 9007199254740993 would sign ...992, 1e400 is beyond a double).
 */
function number(text: string, flag: string, range: { min: number; max?: number }): number {
  if (!JSON_NUMBER.test(text)) throw new OnexError(ErrorCode.Usage, `--${flag} "${text}" is not a decimal number (for example 0.05, 1830 or 2.5e3)`, { flag, value: text });
  let value: number;
  try {
    value = parseJson(text) as number;
  } catch (error) {
    if (!(error instanceof OnexError)) throw error;
    // The reader's "at line 1 column 1" means nothing for a flag; name the flag instead.
    throw new OnexError(error.code as ErrorCode, `--${flag}: ${error.message.replace(/ at line 1 column \d+:/, ":")}`, { flag, value: text });
  }
  // Here, not by the record's own check: that named the record's field and exited 1, as for a problem found.
  if (value < range.min || (range.max !== undefined && value > range.max)) {
    throw new OnexError(ErrorCode.Usage, `--${flag} must be ${range.max === undefined ? `${range.min} or more` : `within [${range.min}, ${range.max}]`}, not ${text}`, { flag, value: text });
  }
  return value;
}
