/**
 * The one reader of message input for every command: NDJSON (streamed, so a log of any size
 * reads in constant memory), one JSON document, a JSON array on one line or many, or YAML
 * documents. A UTF-8 BOM is stripped; invalid UTF-8 is refused with its line (a YAML document
 * or a JSON document over many lines with it is refused whole, keeping its bytes); a malformed
 * line is that line's problem, never the file's (several in a row, too: a JSON document over many
 * lines is only what begins like one); array elements carry their index and line.
 * Every byte is looked at a constant number of times, so time is linear in the input.
 */
import { close, createReadStream, fstat, fstatSync, open, read } from "node:fs";
import { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { Readable } from "node:stream";
import { ErrorCode, OnexError } from "@onex/runtime";
import { MAX_JSON_DEPTH, parseJson, parseJsonWithLines, type BigIntegerMode, type JsonParseOptions } from "@onex/runtime";
import { MAX_YAML_DEPTH, yamlNestingBeyond } from "../generator/yaml-depth.js";
import type { YamlJsonProblem } from "../generator/yaml-json.js";
import { readFailure } from "./file-errors.js";
import { isStandardOutput } from "./same-file.js";

/** How the input held its messages: one per line, one JSON document, a JSON array, YAML documents, or a YAML sequence. */
export type InputShape = "ndjson" | "document" | "array" | "yaml" | "yaml-sequence";

/** Where an input message came from. */
export interface ItemOrigin {
  /** 1-based line the message (or its problem) is on. */
  line: number;
  shape: InputShape;
  /** Position in a JSON array or a YAML sequence. */
  index?: number;
  /** The text of a line (or YAML document) that could not be read as a message, so a dead letter loses nothing. */
  raw?: string;
  /** The bytes of a line that is not valid UTF-8 (its text would not be the same bytes). */
  rawBytes?: Buffer;
}

/** One input message: its value, or why it could not be read. */
export type InputItem = ({ value: unknown } | { error: OnexError }) & ItemOrigin;

/** What to read and how. */
export interface ReadInputOptions {
  /** A file path, or `-` for stdin. */
  file: string;
  /** `auto` (default) reads .yaml/.yml files as YAML and anything else as JSON or NDJSON by content. */
  format?: "auto" | "json" | "yaml";
  /** Integers beyond 2^53: `bigint` carries them exactly (migrate), `refuse` (default) reports ONEX_E_NUMBER_RANGE. */
  bigIntegers?: BigIntegerMode;
  /** Told once when the command waits on a terminal for input. */
  onTerminal?: (hint: string) => void;
  /**
   * Gives the buffer a handed-over batch of `size` bytes is read or joined into (default: a new
   * one); it must own its ArrayBuffer, which may be larger. Once the input is known to be NDJSON,
   * a regular file is read straight into these buffers, and each read's whole lines are a batch.
   */
  batchBuffer?: (size: number) => Buffer;
  /** Takes back a buffer from `batchBuffer` that holds no batch after all (a line longer than it moved to a larger one). */
  unusedBatchBuffer?: (buffer: Buffer) => void;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const LF = Buffer.from([0x0a]);
const CR = Buffer.from([0x0d]);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Yields every message of the input. */
export async function* readInput(options: ReadInputOptions): AsyncGenerator<InputItem> {
  for await (const batch of readInputBatches(options)) yield* batch;
}

/** Like `readInput`, a batch per chunk read, so a caller can handle each batch synchronously (per-message awaits dominate on large logs). */
export async function* readInputBatches(options: ReadInputOptions): AsyncGenerator<InputItem[]> {
  yield* batchesOf(options, false) as AsyncGenerator<InputItem[]>;
}

/**
 * NDJSON lines handed over unread, as the bytes of whole lines (each ending in "\n" but
 * perhaps the input's last): `readNdjsonBytes(batch.bytes, batch.firstLine, ...)` reads them
 * exactly as `readInputBatches` would. `bytes` owns its memory, so it can be moved to a worker.
 */
export interface ByteBatch {
  bytes: Buffer;
  /** The 1-based line number of the first line. */
  firstLine: number;
  /** True when these are known to be the input's last lines (a batch that ends exactly at the end of the input may not know). */
  last: boolean;
  /** True when a pipe had sent nothing more for a while as these were handed over (no lines at all, when the lines before filled a batch): what is made of them and the batches before is awaited, not held for more (`tail -f log | onex migrate`). */
  waiting?: boolean;
}

/**
 * Like `readInputBatches`, but once the input is known to be NDJSON the remaining lines are
 * handed over unread, so a caller can read them on other threads: a regular file's lines as
 * each read left them (about `READ_BYTES`, in a buffer from `batchBuffer`), a stream's in
 * batches of at least `LINE_BATCH_BYTES`, or what it holds when it has sent nothing more for a
 * while (`waiting`), or the rest. Only counting the lines is left to this thread.
 */
export async function* readInputLineBatches(options: ReadInputOptions): AsyncGenerator<InputItem[] | ByteBatch> {
  yield* batchesOf(options, true);
}

/**
 * Reads the NDJSON lines of a batch handed over by `readInputLineBatches`: the same items, in
 * order, as reading them in place. One line is read at a time, as the caller asks for the next
 * item, so a message is migrated and dropped before the next is read: nothing of a batch lives
 * long enough for the garbage collector to move it to the old generation.
 */
export function* readNdjsonBytes(bytes: Buffer, firstLine: number, file: string, bigIntegers: BigIntegerMode): Generator<InputItem> {
  // Line 1 may start with a BOM: the general reader strips it. Every later line is read here
  // directly, as JsonInputReader reads NDJSON lines (a line's items come from `ndjsonLineItems`),
  // without its per-line arrays and records: they were a tenth of a worker's time.
  if (firstLine === 1) {
    const reader = JsonInputReader.forLines(file, bigIntegers, firstLine);
    for (const line of splitLines(bytes)) yield* reader.take([line]);
    return;
  }
  const options: JsonParseOptions = { file, firstLine, bigIntegers };
  let line = firstLine - 1;
  let start = 0;
  while (start < bytes.length) {
    let nl = bytes.indexOf(0x0a, start);
    if (nl === -1) nl = bytes.length;
    line++;
    const end = nl > start && bytes[nl - 1] === 0x0d ? nl - 1 : nl;
    const body = bytes.subarray(start, end);
    start = nl + 1;
    let text: string;
    try {
      text = strictUtf8.decode(body);
    } catch {
      yield { line, error: invalidUtf8(file, line), shape: "ndjson", rawBytes: body };
      continue;
    }
    // Most lines start with "{": not blank, no need to trim.
    if (text.charCodeAt(0) !== 0x7b && isBlank(text)) continue;
    options.firstLine = line;
    let value: unknown;
    try {
      value = parseJson(text, options);
    } catch (error) {
      if (!(error instanceof OnexError)) throw error;
      yield { line, error, shape: "ndjson", raw: text };
      continue;
    }
    if (Array.isArray(value)) yield* arrayItems(value, line, text, file);
    else yield { line, value, shape: "ndjson" };
  }
}

/**
 * The messages of an array on one line, each with its index; or the line's one error when the
 * array holds no message at all, an array still (a first line's shape is the output's: `onex
 * migrate` of `[1,2]` writes `[]`, as of an array whose every message is refused).
 */
function arrayItems(elements: unknown[], line: number, raw: string, file: string): InputItem[] {
  const none = noMessageIn(elements, file, line);
  if (none !== undefined) return [{ line, error: none, shape: "array", raw }];
  return elements.map((value, index) => ({ line, value, shape: "array", index }));
}

/**
 * ONEX_E_UNKNOWN_TYPE for a JSON array none of whose elements is an object, so none a message:
 * one error for the array rather than one per element, which every element would get alike
 * (`onex validate` of a line of 30 million numbers took over four minutes and 3.7 GB to say so 30 million
 * times). An array with an object in it is a list of messages, each element judged alone.
 */
function noMessageIn(elements: unknown[], file: string, line: number, list = "JSON array"): OnexError | undefined {
  if (elements.length === 0) return undefined;
  for (const element of elements) if (element !== null && typeof element === "object" && !Array.isArray(element)) return undefined;
  const values = elements.length === 1 ? "1 value" : `${elements.length} values`;
  const message = `the ${list} from line ${line} holds ${values} and not one object, so no message (a message is a JSON object with a string "type")`;
  return new OnexError(ErrorCode.UnknownType, message, { file, line, elements: elements.length });
}

/** About how many bytes of NDJSON lines a handed-over batch holds: large enough that handing over costs little per line. */
const LINE_BATCH_BYTES = 1 << 18;

async function* batchesOf(options: ReadInputOptions, handOver: boolean): AsyncGenerator<InputItem[] | ByteBatch> {
  const { file } = options;
  const yaml = options.format === "yaml" || ((options.format ?? "auto") === "auto" && /\.ya?ml$/i.test(file));
  const bigIntegers = options.bigIntegers ?? "refuse";
  let input: InputSource | undefined;
  try {
    input = await openInput(file, options.onTerminal, !yaml);
    if (yaml) {
      yield await readYaml(await readAllYaml(input as Readable, file), file, bigIntegers);
      return;
    }
    const reader = new JsonInputReader(file, bigIntegers);
    // Once the lines are NDJSON, a file is read straight into the buffers batches are handed over in.
    const lineBuffers = handOver && options.batchBuffer !== undefined;
    const buffers: BlockBuffers = {
      get: (size) => (lineBuffers && reader.lineOriented ? options.batchBuffer!(size) : Buffer.allocUnsafeSlow(size)),
      unused: (buffer) => options.unusedBatchBuffer?.(buffer),
    };
    let held: Buffer[] = [];
    let heldBytes = 0;
    let heldFirstLine = 0;
    /** Hands over the lines held so far, counted so the next batch knows its first line. */
    const handOverHeld = (last: boolean, waiting = false): ByteBatch => {
      const bytes = joinInto(held, options.batchBuffer?.(heldBytes) ?? Buffer.from(new ArrayBuffer(heldBytes)));
      const batch = { bytes, firstLine: heldFirstLine, last, ...(waiting ? { waiting } : {}) };
      reader.skip(countLines(bytes));
      held = [];
      heldBytes = 0;
      return batch;
    };
    // A pipe's lines are handed over once it has sent nothing more for QUIET_MS, not held until a
    // batch fills: `tail -f log | onex migrate` showed nothing until 256 KiB had come.
    for await (const block of input instanceof FileInput ? input.blocks(buffers) : withQuiet(streamBlocks(input))) {
      if (block === QUIET) {
        // With nothing held (the lines sent filled a batch), an empty batch says so: its caller
        // writes out what it made of the batches before, not waits for the next.
        if (held.length > 0) yield handOverHeld(false, true);
        else if (handOver && reader.lineOriented) yield { bytes: Buffer.alloc(0), firstLine: reader.nextLine, last: false, waiting: true };
        continue;
      }
      if (block.overlong !== undefined) {
        // Its own item, in order: the lines before it go first.
        if (held.length > 0) yield handOverHeld(false);
        const items = reader.tooLong(block.overlong);
        if (items.length > 0) yield items;
        continue;
      }
      if (!handOver) {
        const items = reader.take(splitLines(block.bytes));
        if (items.length > 0) yield items;
        continue;
      }
      let rest = block.bytes;
      if (!reader.lineOriented) {
        // Read here until the shape is known; once it is NDJSON, the block's remaining lines are handed over unread.
        const lines = splitLines(rest);
        let taken = 0;
        const items: InputItem[] = [];
        while (taken < lines.length && !reader.lineOriented) append(items, reader.take([lines[taken++]!]));
        if (items.length > 0) yield items;
        if (taken === lines.length) continue;
        rest = rest.subarray(lines[taken]!.byteOffset - rest.byteOffset);
      } else if (block.own) {
        // Read into a buffer of its own (a batch buffer): these lines are a batch as they are, no copy.
        if (held.length > 0) yield handOverHeld(false);
        const batch = { bytes: rest, firstLine: reader.nextLine, last: block.last };
        reader.skip(countLines(rest));
        yield batch;
        continue;
      }
      if (held.length === 0) heldFirstLine = reader.nextLine;
      held.push(rest);
      heldBytes += rest.length;
      if (heldBytes >= LINE_BATCH_BYTES) yield handOverHeld(false);
    }
    if (held.length > 0) yield handOverHeld(true);
    const last = reader.finish();
    if (last.length > 0) yield last;
  } catch (cause) {
    if (cause instanceof OnexError) throw cause;
    throw readFailure(cause, file === "-" ? "stdin" : file, "input");
  } finally {
    if (input instanceof FileInput) await input.close();
    else if (input !== undefined && input !== process.stdin) input.destroy();
  }
}

/** Text of a whole file that must be UTF-8 (key, grant and record files): BOM stripped, invalid UTF-8 refused with its line. */
export function decodeUtf8Text(bytes: Buffer, file: string): string {
  const body = startsWithBom(bytes) ? bytes.subarray(3) : bytes;
  try {
    return strictUtf8.decode(body);
  } catch {
    throw invalidUtf8(file, firstInvalidLine(body));
  }
}

/** Parses a whole JSON file's bytes (BOM, UTF-8, duplicate names and big integers checked). */
export function parseJsonBytes(bytes: Buffer, file: string): unknown {
  return parseJson(decodeUtf8Text(bytes, file), { file });
}

/**
 * Bytes read at a time from a file: over four times the 64 KiB default, so a quarter of the
 * reads and of the lines cut by a read (onex migrate on 200,000 messages, 2 workers,
 * interleaved runs: 3.59 -> 3.45 s of CPU; 128 KiB: 3.50 s). Each read of a regular file is a
 * batch (FileInput), a little more than the LINE_BATCH_BYTES a stream's chunks are gathered
 * to, and fits a shared slot with room for a cut line; a stream of a file (YAML, a FIFO) reads
 * as much. A pipe comes in the chunks the pipe gives.
 */
const READ_BYTES = (1 << 18) + (1 << 15);

/** A block of whole lines: each ends with "\n", but the input's last when the input does not. */
interface Block {
  bytes: Buffer;
  /** The block starts its buffer, which holds nothing else in use: it can be handed over as it is. */
  own: boolean;
  /** Nothing follows in the input. */
  last: boolean;
  /** The block stands for one line longer than MAX_LINE_BYTES, of this many bytes, skipped unread (`bytes` is empty). */
  overlong?: number;
}

/**
 * The longest line read: 64 MiB, the most NATS carries in one message, so no message is
 * longer. A longer line is skipped without being held (reading `/dev/zero` as input, or a
 * line longer than a string may be, would otherwise exhaust memory) and is ONEX_E_LINE_TOO_LONG,
 * from a file as through a pipe: a file's read buffer grows to one byte more than this at most.
 */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

const NO_BYTES = Buffer.alloc(0);

/**
 * The most a JSON document over many lines may span while it is held to be read (whole, or
 * line by line when it turns out to be NDJSON after all): past it, one whose lines are not
 * messages refuses the input, as YAML past 64 MiB does. (One whose lines are messages is read
 * on line by line as it comes from MAX_LINE_BYTES on, where it can no longer be read whole.)
 * Lines too, since each held line costs a record beyond its text, and a file of blank lines is
 * small in bytes.
 */
const MAX_HELD_BYTES = 4 * MAX_LINE_BYTES;
const MAX_HELD_LINES = 1 << 22;

function overlongBlock(bytes: number, last: boolean): Block {
  return { bytes: NO_BYTES, own: false, last, overlong: bytes };
}

/** Where a file's blocks are read into. */
interface BlockBuffers {
  get(size: number): Buffer;
  /** A buffer from `get` that holds no block after all. */
  unused(buffer: Buffer): void;
}

type InputSource = Readable | FileInput;

const openFile = promisify(open);
const statFile = promisify(fstat);
const readFile = promisify(read);
const closeFile = promisify(close);

/** A regular file (or stdin redirected from one), read straight into the caller's buffers. */
class FileInput {
  constructor(
    private readonly fd: number,
    private readonly owned: boolean,
  ) {}

  /**
   * The file's blocks of whole lines, from where it stands. Each is read into a buffer of its
   * own from `buffers` (a batch buffer, once the lines are NDJSON), so it can be handed over
   * without a copy: the line cut by a read is copied to the start of the next buffer, and a
   * line longer than a buffer moves to one twice the size. A stream of the file would read
   * into new memory each time (256 KiB and up: the C library served those from its heap,
   * which grew with the input, 98 -> 139 MiB of peak RSS at 100,000 -> 1,000,000 messages
   * on one thread) and join the cut line to the next read in more.
   */
  async *blocks(buffers: BlockBuffers): AsyncGenerator<Block> {
    let tail = Buffer.allocUnsafeSlow(0);
    let tailBytes = 0;
    for (;;) {
      // Never larger than the longest line plus one byte: a line that fills it is too long, whatever its length.
      let buffer = buffers.get(tailBytes < READ_BYTES >> 1 ? READ_BYTES : Math.min(tailBytes * 2, MAX_LINE_BYTES + 1));
      tail.copy(buffer, 0, 0, tailBytes);
      let used = tailBytes;
      let end = 0;
      let eof = false;
      // A regular file fills the buffer in one read but at its end, where a second read says so.
      let overlong = false;
      while (!eof) {
        if (used === buffer.length) {
          end = buffer.lastIndexOf(0x0a, used - 1) + 1;
          if (end > 0) break;
          if (used > MAX_LINE_BYTES) {
            overlong = true;
            break;
          }
          // A line longer than the buffer: it moves to a larger one.
          const larger = buffers.get(Math.min(buffer.length * 2, MAX_LINE_BYTES + 1));
          buffer.copy(larger, 0, 0, used);
          buffers.unused(buffer);
          buffer = larger;
        }
        const { bytesRead } = await readFile(this.fd, buffer, used, buffer.length - used, null);
        used += bytesRead;
        eof = bytesRead === 0;
      }
      if (overlong) {
        // No message is this long: the rest of the line is read past, never held.
        const skipped = await this.#skipLine(buffer, used);
        buffers.unused(buffer);
        yield overlongBlock(skipped.bytes, skipped.rest === undefined);
        if (skipped.rest === undefined) return;
        tail = skipped.rest;
        tailBytes = tail.length;
        continue;
      }
      if (eof) {
        if (used > 0) yield { bytes: buffer.subarray(0, used), own: true, last: true };
        else buffers.unused(buffer);
        return;
      }
      // The line cut by the read is kept aside for the next buffer, so this one's lines can go as they are.
      tailBytes = used - end;
      if (tail.length < tailBytes) tail = Buffer.allocUnsafeSlow(Math.max(tailBytes, 1 << 12));
      buffer.copy(tail, 0, end, used);
      yield { bytes: buffer.subarray(0, end), own: true, last: false };
    }
  }

  /** Reads past the line `buffer` is full of (`used` bytes so far): its length, and what follows its end (undefined at the end of input). */
  async #skipLine(buffer: Buffer, used: number): Promise<{ bytes: number; rest: Buffer<ArrayBuffer> | undefined }> {
    let bytes = used;
    for (;;) {
      const { bytesRead } = await readFile(this.fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) return { bytes, rest: undefined };
      const nl = buffer.subarray(0, bytesRead).indexOf(0x0a);
      if (nl === -1) {
        bytes += bytesRead;
        continue;
      }
      const rest = Buffer.allocUnsafeSlow(bytesRead - nl - 1);
      buffer.copy(rest, 0, nl + 1, bytesRead);
      return { bytes: bytes + nl, rest };
    }
  }

  async close(): Promise<void> {
    if (this.owned) await closeFile(this.fd);
  }
}

/**
 * The input (stdin, or a named file that may be a FIFO) is looked at in bigint form, which Node
 * keeps apart from the process's shared stat array. Node 20's realpathSync reads that array for
 * path parts it has cached, and a pipe's mode left there ends its walk before a symbolic link:
 * `import("yaml")` next, through a node_modules of links (as pnpm lays one out), resolved to the
 * link's path, and the vendored copy of yaml (bin/onex.js) then loaded empty ("LineCounter is not
 * a constructor" reading YAML from a pipe).
 */
const QUIET_STAT = { bigint: true } as const;

/**
 * The input: a regular file (named, or stdin redirected from one: read from where it stands)
 * as a FileInput when `direct`, else a stream; a pipe or a terminal as it comes.
 */
async function openInput(file: string, onTerminal: ((hint: string) => void) | undefined, direct: boolean): Promise<InputSource> {
  if (file !== "-") {
    const fd = await openFile(file, "r");
    const stat = await statFile(fd, QUIET_STAT).catch(() => undefined);
    if (stat !== undefined && isStandardOutput(stat)) {
      await closeFile(fd);
      throw inputIsOutput(file);
    }
    if (direct && stat?.isFile() === true) return new FileInput(fd, true);
    // A FIFO is read as the pipe it is, on the event loop: a read of it on libuv's thread pool
    // waits for its writer, and the process cannot exit while one does (Ctrl-C hung the run).
    if (stat?.isFIFO() === true) return new Socket({ fd, readable: true, writable: false });
    // A device, a folder: read as a stream, which reports what is wrong with it as before.
    return createReadStream("", { fd, highWaterMark: READ_BYTES });
  }
  if (stdinIsFolder()) throw Object.assign(new Error("is a folder"), { code: "EISDIR" });
  if (stdinIsStandardOutput()) throw inputIsOutput("stdin");
  if (stdinIsFile()) return direct ? new FileInput(0, false) : createReadStream("", { fd: 0, autoClose: false, highWaterMark: READ_BYTES });
  if (process.stdin.isTTY) onTerminal?.("reading messages from the terminal; end with Ctrl-D, or name a file (run with --help for usage)");
  return process.stdin;
}

/** Standard output redirected to the input file (`>> log`, `> log`): refused before a byte is read or written. */
function inputIsOutput(file: string): OnexError {
  return new OnexError(ErrorCode.Usage, `standard output is the input file (${file}): what is written would be read again (\`>>\`), or the input was emptied before the command began (\`>\`); write to another file`, { file });
}

/** `< folder`: reading it gives nothing, which would pass for empty input. */
function stdinIsFolder(): boolean {
  try {
    return fstatSync(0, QUIET_STAT).isDirectory();
  } catch {
    return false;
  }
}

function stdinIsStandardOutput(): boolean {
  try {
    return isStandardOutput(fstatSync(0, QUIET_STAT));
  } catch {
    return false;
  }
}

function stdinIsFile(): boolean {
  try {
    return fstatSync(0, QUIET_STAT).isFile();
  } catch {
    return false;
  }
}

/** How long a pipe sends nothing before the lines it sent are handed over (a batch not yet full). */
const QUIET_MS = 10;
const QUIET = Symbol("quiet");

/**
 * `blocks`, with QUIET between two of them when the next took QUIET_MS to come. Node's stream
 * iterator empties the stream's buffer at each read, so its `readableLength` said nothing of
 * whether more was on its way: every 64 KiB read of a busy pipe looked quiet.
 */
async function* withQuiet<T>(blocks: AsyncIterable<T>): AsyncGenerator<T | typeof QUIET> {
  const iterator = blocks[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = iterator.next();
      const stop = new AbortController();
      const first = await Promise.race([next, sleep(QUIET_MS, QUIET, { signal: stop.signal }).catch(() => undefined)]);
      stop.abort();
      if (first === QUIET) yield QUIET;
      const step = await next;
      if (step.done) return;
      yield step.value;
    }
  } finally {
    // Not awaited: a pipe that sends nothing more would hold the caller's end; its input is destroyed, which ends the read.
    iterator.return?.(undefined).catch(() => undefined);
  }
}

/** A stream's blocks of whole lines. */
async function* streamBlocks(input: Readable): AsyncGenerator<Block> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Bytes of a line too long to hold, read past so far; -1 when none is being read past. */
  let skipping = -1;
  for await (const chunk of input) {
    let bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    if (skipping === -1 && pendingBytes > 0 && pendingBytes + (bytes.indexOf(0x0a) === -1 ? bytes.length : bytes.indexOf(0x0a)) > MAX_LINE_BYTES) {
      // The line held so far grows past what any message can be: it is read past from here.
      skipping = pendingBytes;
      pending = [];
      pendingBytes = 0;
    }
    if (skipping !== -1) {
      const nl = bytes.indexOf(0x0a);
      if (nl === -1) {
        skipping += bytes.length;
        continue;
      }
      yield overlongBlock(skipping + nl, false);
      skipping = -1;
      bytes = bytes.subarray(nl + 1);
    }
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end === 0) {
      // A line longer than the chunk: its pieces are joined once, when its end arrives.
      if (bytes.length > 0) pending.push(bytes);
      pendingBytes += bytes.length;
      continue;
    }
    const head = bytes.subarray(0, end);
    yield { bytes: pending.length === 0 ? head : Buffer.concat([...pending, head]), own: false, last: false };
    pending = end < bytes.length ? [bytes.subarray(end)] : [];
    pendingBytes = bytes.length - end;
  }
  if (skipping !== -1) yield overlongBlock(skipping, true);
  else if (pending.length > 0) yield { bytes: Buffer.concat(pending), own: false, last: true };
}

/** The lines of a block, as bytes without their "\n"; a final "\n" ends the last line rather than starting an empty one. */
function splitLines(block: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = block.indexOf(0x0a, start); nl !== -1; nl = block.indexOf(0x0a, start)) {
    lines.push(block.subarray(start, nl));
    start = nl + 1;
  }
  if (start < block.length) lines.push(block.subarray(start));
  return lines;
}

function countLines(block: Buffer): number {
  let count = 0;
  for (let nl = block.indexOf(0x0a); nl !== -1; nl = block.indexOf(0x0a, nl + 1)) count++;
  return block.length > 0 && block[block.length - 1] !== 0x0a ? count + 1 : count;
}

/** `parts` copied into `joined`, a buffer with an ArrayBuffer of its own (Buffer.concat may hand out a slice of a shared pool, which cannot be moved to a worker). */
function joinInto(parts: Buffer[], joined: Buffer): Buffer {
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

/**
 * The most YAML input holds. YAML is parsed whole, and the parser holds about fifteen times the
 * text: 300 MB of it ran the heap out (a crash, not an error) and /dev/zero read as YAML grew
 * without end. NDJSON has no such limit.
 */
export const MAX_YAML_BYTES = 64 * 1024 * 1024;

async function readAllYaml(input: Readable, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input) {
    const part = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += part.length;
    if (bytes > MAX_YAML_BYTES) {
      const name = file === "-" ? "stdin" : file;
      throw new OnexError(ErrorCode.FileUnreadable, `${name} holds more than ${MAX_YAML_BYTES / 1024 / 1024} MiB of YAML, which is read whole: write a log that large as NDJSON, read one line at a time`, { file: name, bytes });
    }
    chunks.push(part);
  }
  return Buffer.concat(chunks);
}

/**
 * A line as text, or the error that it is not UTF-8. `cr`: it ended in "\r\n", whose "\r" was
 * dropped, so a document's exact bytes can be put back together for a dead letter.
 */
type DecodedLine = { line: number; text: string; cr?: true } | { line: number; bytes: Buffer; error: OnexError; cr?: true };

/** A line of an array with one object a line (`{...},`) as that object alone: its trailing comma dropped. */
function elementLine(decoded: DecodedLine): DecodedLine {
  return "text" in decoded && /^\s*\{/.test(decoded.text) ? { ...decoded, text: decoded.text.replace(/,\s*$/, "") } : decoded;
}

/**
 * Adds `items` to `out` one by one: `out.push(...items)` passes each as an argument, and an array
 * of a few hundred thousand messages (on one line, or an array never closed) overflowed the stack,
 * refusing the whole input as ONEX_E_FILE_UNREADABLE "Maximum call stack size exceeded".
 */
function append<T>(out: T[], items: readonly T[]): void {
  for (const item of items) out.push(item);
}

/**
 * Decides the shape from the first lines and reads the rest accordingly. A first line that is
 * a complete JSON value makes the input line-oriented (NDJSON, or an array on one line); a
 * first line that cannot begin a JSON value over many lines either is a malformed line, its own
 * error, and the line after it decides anew. One that may begin one is either the start of a
 * document or a malformed line, and the next line tells which: if it is a complete value on its
 * own, the input is NDJSON. (Blank lines are JSON whitespace only; before the first line that
 * is not, they are skipped.)
 */
class JsonInputReader {
  private lineNo = 0;
  /** "elements": the rest of a document held past MAX_LINE_BYTES whose lines are messages, each read alone as it comes. */
  private mode: "start" | "undecided" | "lines" | "document" | "elements" = "start";
  /** Lines held while the shape is undecided, or the lines of a document. */
  private held: DecodedLine[] = [];
  /** The bytes of the held lines as UTF-8, their line ends counted: what MAX_LINE_BYTES and MAX_HELD_BYTES are measured in. */
  private heldSize = 0;
  private documentStart = 0;
  /** The held lines of a document past MAX_LINE_BYTES were looked at for a message: from then on only each new line is. */
  private pastWholeLooked = false;
  /** The last line parsed alone and its outcome, so a line decided on is not parsed twice (a one-line file may be 100 MB). */
  private parsed: { decoded: DecodedLine; value: unknown } | { decoded: DecodedLine; error: OnexError } | undefined;

  constructor(
    private readonly file: string,
    private readonly bigIntegers: BigIntegerMode,
  ) {}

  /** A reader of lines already known to be NDJSON, the first of them at line `firstLine`. */
  static forLines(file: string, bigIntegers: BigIntegerMode, firstLine: number): JsonInputReader {
    const reader = new JsonInputReader(file, bigIntegers);
    reader.mode = "lines";
    reader.lineNo = firstLine - 1;
    return reader;
  }

  /** True once the input is known to be NDJSON: every later line is read on its own. */
  get lineOriented(): boolean {
    return this.mode === "lines";
  }

  /** The number the next line taken will have. */
  get nextLine(): number {
    return this.lineNo + 1;
  }

  /** Counts lines read elsewhere (by `readNdjsonBytes`). */
  skip(count: number): void {
    this.lineNo += count;
  }

  take(lines: Buffer[]): InputItem[] {
    const out: InputItem[] = [];
    for (const bytes of lines) this.line(this.decode(bytes), out);
    return out;
  }

  /** The next line, `bytes` long and skipped unread: ONEX_E_LINE_TOO_LONG, read as a malformed line is. */
  tooLong(bytes: number): InputItem[] {
    const out: InputItem[] = [];
    const line = ++this.lineNo;
    const error = new OnexError(ErrorCode.LineTooLong, `line ${line} is ${bytes} bytes, longer than any message can be (${MAX_LINE_BYTES} bytes); it was skipped unread`, { file: this.file, line, bytes });
    this.line({ line, bytes: NO_BYTES, error }, out);
    return out;
  }

  finish(): InputItem[] {
    const out: InputItem[] = [];
    if (this.mode === "undecided") {
      // A single non-JSON line with nothing after it (but blank lines): its own error.
      for (const held of this.held) if (!("text" in held && isBlank(held.text))) this.lineItems(held, out);
    } else if (this.mode === "document") {
      this.document(out);
    }
    this.held = [];
    this.heldSize = 0;
    return out;
  }

  private decode(bytes: Buffer): DecodedLine {
    const line = ++this.lineNo;
    let body = line === 1 && startsWithBom(bytes) ? bytes.subarray(3) : bytes;
    const cr = body.length > 0 && body[body.length - 1] === 0x0d;
    if (cr) body = body.subarray(0, body.length - 1);
    let decoded: DecodedLine;
    try {
      decoded = { line, text: strictUtf8.decode(body) };
    } catch {
      decoded = { line, bytes: body, error: invalidUtf8(this.file, line) };
    }
    if (cr) decoded.cr = true;
    return decoded;
  }

  private line(decoded: DecodedLine, out: InputItem[]): void {
    const blank = "text" in decoded && isBlank(decoded.text);
    switch (this.mode) {
      case "lines":
        if (!blank) this.lineItems(decoded, out);
        return;
      case "document":
        this.hold(decoded);
        // Every line past MAX_LINE_BYTES is looked at for a message, the one that takes the document
        // past MAX_HELD_BYTES too (once refused before it was looked at: a message there refused
        // the whole input). A document still held past MAX_HELD_BYTES has none.
        if (this.heldSize > MAX_LINE_BYTES) this.documentPastWhole(decoded, out);
        if (this.heldSize > MAX_HELD_BYTES) throw this.pastHolding();
        return;
      case "elements":
        if (!("text" in decoded && BRACKET_OR_BLANK.test(decoded.text))) this.lineItems(elementLine(decoded), out);
        return;
      case "start": {
        if (blank) return;
        if ("text" in decoded && OPENS_ALONE.test(decoded.text)) {
          this.startDocument(decoded);
          return;
        }
        if (this.parsesAlone(decoded)) {
          this.mode = "lines";
          this.lineItems(decoded, out);
          return;
        }
        if (this.beginsNoValue(decoded)) {
          // A malformed line, reported alone (as NDJSON's are); the next line decides the shape anew.
          // Held with the lines after it as one document, a file of such lines was one error at line 1.
          this.lineItems(decoded, out);
          return;
        }
        this.mode = "undecided";
        this.holdOnly(decoded);
        return;
      }
      case "undecided": {
        if (blank) {
          this.hold(decoded);
          return;
        }
        if (this.parsesAlone(decoded)) {
          // The first line was a malformed NDJSON line: it alone is reported.
          this.mode = "lines";
          for (const held of this.held) if (!("text" in held && isBlank(held.text))) this.lineItems(held, out);
          this.held = [];
          this.heldSize = 0;
          this.lineItems(decoded, out);
          return;
        }
        const [first, ...rest] = this.held;
        this.startDocument(first!);
        for (const held of rest) this.hold(held);
        this.hold(decoded);
        return;
      }
    }
  }

  private startDocument(first: DecodedLine): void {
    this.mode = "document";
    this.pastWholeLooked = false;
    this.documentStart = first.line;
    this.holdOnly(first);
  }

  /** Holds `decoded` alone, dropping what was held. */
  private holdOnly(decoded: DecodedLine): void {
    this.held = [];
    this.heldSize = 0;
    this.hold(decoded);
  }

  /** Holds a line of a document, or of an input whose shape is not yet known; past MAX_HELD_LINES the input is refused (past MAX_HELD_BYTES, see documentPastWhole). */
  private hold(decoded: DecodedLine): void {
    this.held.push(decoded);
    // Bytes, not UTF-16 units: a document of 3-byte characters was read whole at three times the limit, and reported in characters called bytes.
    this.heldSize += ("text" in decoded ? Buffer.byteLength(decoded.text) : decoded.bytes.length) + 1;
    if (this.held.length > MAX_HELD_LINES) throw this.pastHolding();
  }

  /**
   * A document held past MAX_LINE_BYTES, which can no longer be read whole: once some of its
   * lines is a message (an array of one object a line), what is held is read line by line, and
   * the rest as it comes (a 300 MB such array refused the whole input as ONEX_E_FILE_UNREADABLE,
   * then, read on only past MAX_HELD_BYTES, peaked at 1.26 GB in `onex migrate`). The lines held
   * are looked at once, then each new line alone. One whose lines are not messages is held on,
   * to be reported whole (ONEX_E_LINE_TOO_LONG), or refused past MAX_HELD_BYTES.
   */
  private documentPastWhole(decoded: DecodedLine, out: InputItem[]): void {
    if (!this.pastWholeLooked) {
      // JSON values one after another, each over several lines (`jq .` of a log): neither a
      // document nor lines that are messages, and known now, not once 256 MiB of it is held.
      const values = jsonValuesOverLines(this.held, "more to come");
      if (values !== undefined && values.length > 1) throw severalValues(this.file, values, true);
    }
    const messages = this.linesAreMessages(this.pastWholeLooked ? [elementLine(decoded)] : this.held.map(elementLine));
    this.pastWholeLooked = true;
    if (!messages) return;
    this.document(out, true);
    this.mode = "elements";
    this.held = [];
    this.heldSize = 0;
  }

  /** ONEX_E_FILE_UNREADABLE for a document held past MAX_HELD_BYTES or MAX_HELD_LINES. */
  private pastHolding(): OnexError {
    const name = this.file === "-" ? "stdin" : this.file;
    const line = this.held[0]!.line;
    const message = `${name} holds a JSON document of more than ${MAX_HELD_BYTES / 1024 / 1024} MiB or ${MAX_HELD_LINES.toLocaleString("en")} lines from line ${line} on: write a log that large as NDJSON, one message a line`;
    return new OnexError(ErrorCode.FileUnreadable, message, { file: name, line });
  }

  /** True when some of `lines` (their trailing commas dropped) is an object on its own: they are NDJSON, or an array of one message a line. */
  private linesAreMessages(lines: DecodedLine[]): boolean {
    return lines.some((held) => this.objectAlone(held));
  }

  /** True when `lines` (their trailing commas dropped) are an array of one object a line: each an object on its own, or a bracket. */
  private oneObjectALine(lines: DecodedLine[]): boolean {
    return this.linesAreMessages(lines) && lines.every((held) => ("text" in held && BRACKET_OR_BLANK.test(held.text)) || this.objectAlone(held));
  }

  private objectAlone(held: DecodedLine): boolean {
    return "text" in held && /^\s*\{/.test(held.text) && this.parsesAlone(held);
  }

  /**
   * True when `decoded`, a first line that is no JSON value on its own, cannot begin one over many
   * lines either: read with its line end after it, it is no JSON before that line end is passed (a
   * character no value starts or goes on with there, a string the line end leaves open). A value
   * spans lines only between its tokens, so such a line is a malformed line whatever follows it.
   * Not said of a line of an array of one object a line (`{...},`), read with the lines after it
   * (see brokenDocument), nor of one that is not UTF-8 or too long to read, whose document is
   * refused whole with its bytes (UTF-16 NDJSON is one such broken document, every byte kept).
   */
  private beginsNoValue(decoded: DecodedLine): boolean {
    // A line that opens an object or an array begins a document, however it goes on: a mistake in
    // it (an unquoted name, NaN, a raw tab in a string) is the document's, one error with its text.
    if (!("text" in decoded) || OPENS_VALUE.test(decoded.text)) return false;
    const element = elementLine(decoded);
    if ("text" in element && element.text !== decoded.text && this.parsesAlone(element)) return false;
    try {
      parseJson(decoded.text + "\n", { file: this.file, bigIntegers: this.bigIntegers });
    } catch (error) {
      if (!(error instanceof OnexError)) throw error;
      return error.code === ErrorCode.JsonSyntax && error.details.line === 1;
    }
    return false;
  }

  /** True when the line is one complete JSON value (even one refused for a duplicate name or a big number). */
  private parsesAlone(decoded: DecodedLine): boolean {
    if (!("text" in decoded)) return false;
    const outcome = this.parse(decoded as Extract<DecodedLine, { text: string }>);
    return !("error" in outcome) || outcome.error.code !== ErrorCode.JsonSyntax;
  }

  private parse(decoded: Extract<DecodedLine, { text: string }>): { value: unknown } | { error: OnexError } {
    if (this.parsed?.decoded === decoded) return this.parsed;
    try {
      this.parsed = { decoded, value: parseJson(decoded.text, { file: this.file, firstLine: decoded.line, bigIntegers: this.bigIntegers }) };
    } catch (error) {
      if (!(error instanceof OnexError)) throw error;
      this.parsed = { decoded, error };
    }
    return this.parsed;
  }

  /** The message(s) of one line: its value, the elements of an array on it, or its error. */
  private lineItems(decoded: DecodedLine, out: InputItem[]): void {
    const { line } = decoded;
    if (!("text" in decoded)) {
      out.push({ line, error: decoded.error, shape: "ndjson", rawBytes: decoded.bytes });
      return;
    }
    const outcome = this.parse(decoded);
    this.parsed = undefined;
    if ("error" in outcome) {
      out.push({ line, error: outcome.error, shape: "ndjson", raw: decoded.text });
      return;
    }
    const value = outcome.value;
    if (Array.isArray(value)) append(out, arrayItems(value, line, decoded.text, this.file));
    else out.push({ line, value, shape: "ndjson" });
  }

  /** `partial`: the lines held are the document's first, the rest to be read on as they come. */
  private document(out: InputItem[], partial = false): void {
    // Read whole only up to what one line may hold: a 300 MB JSON array over many lines ended the
    // process (V8's "invalid size error", growing an array past its limit) after taking 3.5 GB.
    // A larger document is a broken one, still read line by line when its lines are messages.
    const tooLarge = this.heldSize > MAX_LINE_BYTES ? this.documentTooLarge(partial) : undefined;
    // A line too long to read, skipped unread, goes before one that is not UTF-8: the document's
    // bytes can then not be kept whole, and a dead letter records only its line (raw: null).
    const errors = this.held.filter((held): held is Extract<DecodedLine, { error: OnexError }> => "error" in held);
    const broken = errors.find((held) => held.error.code === ErrorCode.LineTooLong) ?? errors[0];
    const text = tooLarge === undefined && broken === undefined ? this.held.map((held) => (held as { text: string }).text).join("\n") : undefined;
    let parsed;
    try {
      if (tooLarge !== undefined) throw tooLarge;
      if (broken !== undefined) throw broken.error;
      parsed = parseJsonWithLines(text!, { file: this.file, firstLine: this.documentStart, bigIntegers: this.bigIntegers });
    } catch (error) {
      if (!(error instanceof OnexError)) throw error;
      // A document with a line that is not UTF-8 has no text: its dead letter keeps its bytes, whole
      // (its text with that line left out, as it was kept, lost the line and passed for all of it).
      const bytes = tooLarge === undefined && broken !== undefined && broken.error.code !== ErrorCode.LineTooLong ? this.heldBytes() : undefined;
      this.brokenDocument(error, text, bytes, out);
      return;
    }
    const none = parsed.elementLines === undefined ? undefined : noMessageIn(parsed.value as unknown[], this.file, this.documentStart);
    if (none !== undefined) {
      out.push({ line: this.documentStart, error: none, shape: "array", raw: text });
    } else if (parsed.elementLines !== undefined) {
      const lines = parsed.elementLines;
      (parsed.value as unknown[]).forEach((element, index) => out.push({ line: lines[index]!, value: element, shape: "array", index }));
    } else {
      out.push({ line: this.documentStart, value: parsed.value, shape: "document" });
    }
  }

  /** The held lines' bytes as they were read: each line's own, "\r\n" or "\n" between them (a BOM at line 1 left out, as from its text). */
  private heldBytes(): Buffer {
    const parts: Buffer[] = [];
    this.held.forEach((held, i) => {
      if (i > 0) parts.push(LF);
      parts.push("text" in held ? Buffer.from(held.text) : held.bytes);
      if (held.cr && i < this.held.length - 1) parts.push(CR);
    });
    return Buffer.concat(parts);
  }

  /** ONEX_E_LINE_TOO_LONG for a document over many lines larger than one line may be. */
  private documentTooLarge(partial: boolean): OnexError {
    const line = this.documentStart;
    const message = `the JSON document from line ${line} holds ${this.heldSize} bytes ${partial ? "in its first" : "over"} ${this.held.length} lines, more than is read whole (${MAX_LINE_BYTES} bytes, as a line); write a log that large as NDJSON, one message a line`;
    return new OnexError(ErrorCode.LineTooLong, message, { file: this.file, line, bytes: this.heldSize });
  }

  /**
   * A document that does not parse. If some of its lines are whole JSON objects on their own,
   * it was NDJSON after all (say, behind a malformed first line): every line is read alone.
   * Otherwise it is one broken document, reported once at the line of its first error.
   */
  private brokenDocument(error: OnexError, text: string | undefined, bytes: Buffer | undefined, out: InputItem[]): void {
    // JSON values one after another, each over several lines, are what `jq .` prints of a log: one
    // error that says so, not each line read alone (an array's `{}` inside a message read as one).
    const whole = text === undefined ? undefined : jsonValuesOverLines(this.held);
    // Such a log cut short, its last value never closed, is the same mistake; and one value `jq .`
    // printed, cut short, is one broken document, its `{}` lines never read as messages.
    const values = whole ?? (text === undefined ? undefined : jsonValuesOverLines(this.held, "cut short"));
    if (values !== undefined && values.length > 1) {
      out.push({ line: values[1]!, error: severalValues(this.file, values, false, whole === undefined), shape: "document", raw: text });
      return;
    }
    // An array with one object per line (`[`, `{...},`, ..., `]`) is read line by line too: its
    // brackets are skipped and each element's trailing comma dropped, so one broken element costs only itself.
    // Only an object's comma: a line like `0,` is no element of such an array, and stays broken.
    // Text that is one JSON value, refused for what it holds (a name given twice, a lone surrogate),
    // is read so only when it is such an array: a line of another value that is an object alone
    // (`{}` in an array of a pretty-printed message) is part of it, never a message.
    const lines = this.held.map(elementLine);
    if (values === undefined ? this.linesAreMessages(lines) : this.oneObjectALine(lines)) {
      const items: InputItem[] = [];
      for (const held of lines) if (!("text" in held && BRACKET_OR_BLANK.test(held.text))) this.lineItems(held, items);
      // Every line read, yet the whole is no JSON (a bracket or comma missing or extra, an array
      // cut short): that is reported too, in line order, or a file cut off after an element would
      // pass for whole. Its elements are all read, so a dead letter keeps only the text of the line
      // the fault is at (the whole would repeat the messages written); a document too large to read
      // whole has none kept (raw: null, as for a line too long).
      if (!items.some((item) => "error" in item)) {
        const at = error.details.line ?? this.documentStart;
        const after = items.findIndex((item) => item.line > at);
        const faulty = error.code === ErrorCode.LineTooLong ? undefined : this.held.find((held) => held.line === at);
        const raw = faulty !== undefined && "text" in faulty ? { raw: faulty.text } : {};
        // Read line by line, as NDJSON, whatever went first: a first item's shape is the output's, and
        // `onex migrate` of an array past 64 MiB wrote each message as a document of its own, one
        // indented object after another, which neither JSON nor NDJSON readers (onex's own) read.
        items.splice(after === -1 ? items.length : after, 0, { line: at, error, shape: "ndjson", ...raw });
      }
      append(out, items);
      return;
    }
    out.push({ line: error.details.line ?? this.documentStart, error, shape: "document", ...(bytes !== undefined ? { rawBytes: bytes } : text === undefined ? {} : { raw: text }) });
  }
}

/**
 * The lines the JSON values of `lines` begin at, when they are JSON values one after another,
 * each over several lines (what `jq .` prints): a value ends on the line where its brackets
 * close, and must parse then. Undefined when the lines are anything else: a value on one line,
 * text that is no JSON, more text after a value on its line, a line that is not UTF-8. A last
 * value not yet closed is left out when `open` is "more to come", and when it is "cut short" and
 * that value is an object as `jq .` prints a message (`{` alone, then indented lines): never an
 * NDJSON line left open, nor an array of one object a line cut short, whose good lines are read
 * one by one.
 */
function jsonValuesOverLines(lines: readonly DecodedLine[], open?: "more to come" | "cut short"): number[] | undefined {
  const starts: number[] = [];
  let depth = 0;
  let first = 0;
  for (let i = 0; i < lines.length; i++) {
    const held = lines[i]!;
    if (!("text" in held)) return undefined;
    if (depth === 0) {
      if (isBlank(held.text)) continue;
      first = i;
    }
    depth = nestingAfter(held.text, depth);
    if (depth < 0) return undefined;
    if (depth === 0) {
      const value = lines.slice(first, i + 1).map((line) => (line as { text: string }).text);
      if (value.length === 1 || !isJsonValue(value.join("\n"))) return undefined;
      starts.push(lines[first]!.line);
    }
  }
  if (depth === 0 || open === "more to come") return starts;
  return open === "cut short" && printedByJq(lines.slice(first) as { text: string }[]) ? starts : undefined;
}

/** Whether lines are the start of an object as `jq .` prints one: `{` alone, then indented lines. */
function printedByJq(lines: readonly { text: string }[]): boolean {
  return /^\{\s*$/.test(lines[0]!.text) && lines.slice(1).every((line) => isBlank(line.text) || /^\s/.test(line.text));
}

/** How deep in brackets a line of JSON ends, from `depth` before it (no string spans lines); -1 when it closes one never opened. */
function nestingAfter(text: string, depth: number): number {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return -1;
      depth--;
    }
  }
  return depth;
}

/**
 * ONEX_E_JSON_SYNTAX for JSON values one after another, each over several lines, beginning at
 * `starts`. `input`: the error refuses the whole input, found before its end (more values may
 * follow), so it names the file, as no message's line is printed before it. `cutShort`: another
 * value follows them, never closed.
 */
function severalValues(file: string, starts: readonly number[], input: boolean, cutShort = false): OnexError {
  const [first, second] = starts;
  const where = input ? `${file === "-" ? "stdin" : file}:${second}: ` : "";
  const count = `${input ? "at least " : ""}${starts.length} JSON values${cutShort ? " and one cut short" : ""}`;
  const message = `${where}not valid JSON at line ${second}: a second JSON value begins there, after the one from line ${first} (${count}, each over several lines: what \`jq .\` prints); onex reads one JSON value, or one a line (NDJSON): write one message a line with \`jq -c .\``;
  return new OnexError(ErrorCode.JsonSyntax, message, { file, line: second });
}

/**
 * Every YAML document with the line it starts on; YAML is read whole, not streamed. The yaml
 * package is loaded only here: every migrate worker imports this module, and loading it took
 * each ~35 ms at start-up for input that is never YAML.
 */
async function readYaml(bytes: Buffer, file: string, bigIntegers: BigIntegerMode): Promise<InputItem[]> {
  const body = startsWithBom(bytes) ? bytes.subarray(3) : bytes;
  let text: string;
  try {
    text = strictUtf8.decode(body);
  } catch {
    // Bytes that are not UTF-8 cost only the documents they are in (they refused the whole input,
    // keeping nothing of it): each such document is an error keeping its bytes, the others are read.
    const split = undecodableYamlDocuments(body, file);
    return inLineOrder(await readYamlText(split.text, file, bigIntegers), split.refused);
  }
  return readYamlText(text, file, bigIntegers);
}

/**
 * YAML bytes some of which are not UTF-8, cut into the documents the yaml package finds in them:
 * a line at the first column of `---` (or after a line of `...`), followed by a space or the
 * line's end, starts one wherever it stands, since YAML allows no such line inside any value,
 * so documents are told apart without decoding. (Directives and comments before a `---` go with
 * the document they precede.) A document that is not UTF-8 is ONEX_E_JSON_SYNTAX at its first
 * such line, keeping its exact bytes; in `text`, from which the others are read, its lines are
 * left blank but its markers, so it reads as an empty document and the others keep their lines,
 * columns and text.
 */
function undecodableYamlDocuments(body: Buffer, file: string): { text: string; refused: InputItem[] } {
  const pieces: string[] = [];
  const refused: InputItem[] = [];
  let docStart = 0;
  let docLine = 1;
  /** The document so far holds more than directives, comments and blank lines (a `---` line is more). */
  let content = false;
  const close = (end: number) => {
    if (end === docStart) return;
    const doc = body.subarray(docStart, end);
    try {
      pieces.push(strictUtf8.decode(doc));
    } catch {
      const line = docLine + firstInvalidLine(doc) - 1;
      refused.push({ line, error: invalidUtf8(file, line), shape: "yaml", rawBytes: doc });
      pieces.push(splitLines(doc).map((l) => (yamlMarker(l, 0x2d) ? "---" : yamlMarker(l, 0x2e) ? "..." : "")).join("\n") + (doc[doc.length - 1] === 0x0a ? "\n" : ""));
    }
  };
  let line = 1;
  for (let start = 0; start < body.length; line++) {
    const nl = body.indexOf(0x0a, start);
    const end = nl === -1 ? body.length : nl + 1;
    const l = body.subarray(start, nl === -1 ? body.length : nl);
    if (yamlMarker(l, 0x2d) && content) {
      close(start);
      [docStart, docLine] = [start, line];
    }
    if (yamlMarker(l, 0x2e)) {
      close(end);
      [docStart, docLine, content] = [end, line + 1, false];
    } else if (!content) content = yamlMarker(l, 0x2d) || !/^(?:\s*(?:#.*)?|%.*)$/s.test(l.toString("latin1"));
    start = end;
  }
  close(body.length);
  return { text: pieces.join(""), refused };
}

/** The line is a YAML document marker, `---` (`c` 0x2d) or `...` (0x2e), at the first column and followed by a space, a tab or its end. */
function yamlMarker(line: Buffer, c: number): boolean {
  return line.length >= 3 && line[0] === c && line[1] === c && line[2] === c && (line.length === 3 || line[3] === 0x20 || line[3] === 0x09 || line[3] === 0x0d);
}

/** Two lists of items, each in line order, as one. */
function inLineOrder(items: InputItem[], more: InputItem[]): InputItem[] {
  const out: InputItem[] = [];
  let next = 0;
  for (const item of items) {
    while (next < more.length && more[next]!.line < item.line) out.push(more[next++]!);
    out.push(item);
  }
  append(out, more.slice(next));
  return out;
}

/** The items of YAML text (see readYaml). */
async function readYamlText(text: string, file: string, bigIntegers: BigIntegerMode): Promise<InputItem[]> {
  const jsonLines = secondTopLevelJsonLine(text);
  if (jsonLines !== undefined) {
    // NDJSON read as YAML is one document with an error on every line: hundreds of thousands of
    // them, and the YAML parser's memory, for one mistaken format.
    const message = `line ${jsonLines} starts a second JSON value in one YAML document: this looks like NDJSON, one JSON message a line; read it with --format json (or name the file .ndjson)`;
    // Its text kept for a dead letter, as any refused document's: every message in it would be lost otherwise.
    return [{ line: jsonLines, error: new OnexError(ErrorCode.YamlSyntax, message, { file, line: jsonLines }), shape: "yaml", raw: text }];
  }
  // Counted before the parser sees it: nested a few hundred levels deep, it runs V8 out of stack, fatally.
  const deep = yamlNestingBeyond(text);
  if (deep !== undefined) {
    const message = `not valid YAML for onex: nested deeper than ${MAX_YAML_DEPTH} levels (JSON input may nest ${MAX_JSON_DEPTH})`;
    return [{ line: deep, error: new OnexError(ErrorCode.YamlSyntax, message, { file, line: deep }), shape: "yaml", raw: text }];
  }
  const { LineCounter, isScalar, isSeq, parseAllDocuments } = await import("yaml");
  const { mergeProblem, YAML_AS_JSON, yamlJsonProblem } = await import("../generator/yaml-json.js");
  const { yamlDocumentValue } = await import("../generator/yaml-file.js");
  const { YamlAliases } = await import("../generator/yaml-aliases.js");
  const lineCounter = new LineCounter();
  const items: InputItem[] = [];
  const lineOf = (node: { range?: [number, number, number] | null }) => lineCounter.linePos(node.range?.[0] ?? 0).line;
  for (const doc of parseAllDocuments(text, { ...YAML_AS_JSON, lineCounter })) {
    const line = lineCounter.linePos(doc.range[0]).line;
    // A refused document's own text (its `---` too), so its dead letter keeps what was refused.
    const raw = text.slice(doc.range[0], doc.range[2]);
    const refusal = (problem: YamlJsonProblem): InputItem => {
      const pos = lineCounter.linePos(problem.offset);
      return { line: pos.line, error: new OnexError(problem.code, problem.message, { file, line: pos.line, column: pos.col }), shape: "yaml", raw };
    };
    // A message read from YAML must be what the same message in JSON would be (yaml-json.ts),
    // its aliases resolved here, never by the yaml package (yaml-aliases.ts).
    const aliases = new YamlAliases();
    const { problem, merges } = yamlJsonProblem(doc, { bigIntegers, duplicateKey: ErrorCode.JsonDuplicateKey, aliases });
    if (problem !== undefined) {
      items.push(refusal(problem));
      continue;
    }
    // An empty document, e.g. after a trailing `---`: the yaml package gives it no contents or
    // (2.x) a null scalar with no source, where an explicit `null` or `~` has its text.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && doc.contents.source === "")) continue;
    // The lines of a sequence's elements are their own, an alias's too, not those of what it names.
    const elementLines = isSeq(doc.contents) ? doc.contents.items.map((element) => lineOf(element as { range?: [number, number, number] | null })) : [];
    aliases.expand();
    // The yaml package throws a plain Error for a merge of anything but mappings, which refused the
    // whole input as ONEX_E_FILE_UNREADABLE: it is this document's error, at the merge.
    const badMerge = mergeProblem(merges);
    if (badMerge !== undefined) {
      items.push(refusal(badMerge));
      continue;
    }
    const read = yamlDocumentValue(doc);
    if ("why" in read) {
      items.push({ line, error: new OnexError(ErrorCode.YamlSyntax, `not valid YAML for onex: ${read.why}`, { file, line }), shape: "yaml", raw });
      continue;
    }
    const { value } = read;
    // A sequence at the top is a list of messages, as a JSON array is: each element on its own
    // line, or the document's one error when no element is a mapping (as for a JSON array).
    const none = Array.isArray(value) && isSeq(doc.contents) ? noMessageIn(value, file, line, "YAML sequence") : undefined;
    if (none !== undefined) items.push({ line, error: none, shape: "yaml-sequence", raw });
    else if (Array.isArray(value) && isSeq(doc.contents)) {
      value.forEach((element, index) => items.push({ line: elementLines[index]!, value: element, shape: "yaml-sequence", index }));
    } else items.push({ line, value, shape: "yaml" });
  }
  return items;
}

/**
 * The line of a second JSON value at the first column, after one that is a whole JSON value on
 * its own line, within one YAML document (no `---` between): never valid YAML, and what NDJSON
 * read as YAML looks like. (JSON spread over lines, `[` alone on a line, is YAML and passes.)
 */
function secondTopLevelJsonLine(text: string): number | undefined {
  let seen = false;
  let line = 0;
  for (let start = 0; start < text.length; ) {
    line++;
    const next = text.indexOf("\n", start);
    const end = next === -1 ? text.length : next;
    const c = text.charCodeAt(start);
    if (c === 0x7b || c === 0x5b) {
      if (seen) return line;
      seen = isJsonValue(text.slice(start, end));
    } else if (text.startsWith("---", start) || text.startsWith("...", start)) {
      seen = false;
    }
    if (next === -1) break;
    start = next + 1;
  }
  return undefined;
}

function isJsonValue(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A line of JSON whitespace only (space, tab, CR), which holds no message and is skipped. Other
 * white space (\f, \v, U+00A0, U+2028: what trim() strips) is no JSON whitespace: a line of it is
 * malformed, as it is before a message on a line.
 */
function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

/** A line of an array of one object a line that holds no element: blank, or only its `[` or `]` (JSON whitespace around it). */
const BRACKET_OR_BLANK = /^[ \t\r]*[[\]]?[ \t\r]*$/;

/**
 * A line that opens an object, or an array whose next character can go on one (after JSON
 * whitespace and a byte order mark): not a log line's `[INFO]`, which no array begins with.
 */
const OPENS_VALUE = /^\uFEFF?[ \t\r]*(?:\{|\[[ \t\r]*(?:[[\]{"0-9tfn-]|$))/;

/** A line that only opens an object or an array (JSON whitespace around it): a document over many lines begins. */
const OPENS_ALONE = /^[ \t\r]*[[{][ \t\r]*$/;

function startsWithBom(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes.subarray(0, 3).equals(BOM);
}

function invalidUtf8(file: string, line: number): OnexError {
  return new OnexError(ErrorCode.JsonSyntax, `line ${line} is not valid UTF-8`, { file, line });
}

function firstInvalidLine(bytes: Buffer): number {
  let line = 1;
  let start = 0;
  for (let nl = bytes.indexOf(0x0a); ; nl = bytes.indexOf(0x0a, start)) {
    const end = nl === -1 ? bytes.length : nl;
    try {
      strictUtf8.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    if (nl === -1) return line;
    start = nl + 1;
    line++;
  }
}
