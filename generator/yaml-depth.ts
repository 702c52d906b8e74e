/**
 * How deep YAML text nests, counted before it is parsed. The yaml package follows nesting by
 * recursion: a few hundred levels run V8 out of stack, and where that happens inside one of its
 * regular expressions it is a fatal error that no catch sees (the process aborts, exit 134).
 * So YAML input nested deeper than MAX_YAML_DEPTH is refused before the parser sees it.
 */

/** The most levels YAML input may nest (JSON input: MAX_JSON_DEPTH); messages nest a dozen or so. */
export const MAX_YAML_DEPTH = 256;

/**
 * The first line (1-based) at which `text` nests deeper than `max` levels, or undefined.
 * Counted from the text alone: flow collections (`[`, `{`) outside quotes and comments, and
 * block nesting by indentation and by compact entries (`- - x`, `? ? x`). It may count a level more
 * than the parser does (a plain scalar's stray bracket, a scalar item), never fewer.
 */
export function yamlNestingBeyond(text: string, max = MAX_YAML_DEPTH): number | undefined {
  // Columns where the enclosing block structures start, innermost last.
  const blocks: number[] = [];
  // Levels inside flow collections, and the collections open: each, and whether it is a sequence
  // already holding a single-pair mapping (`[a: b]` is a list of one map: a level more).
  let flow = 0;
  const opened: { sequence: boolean; paired: boolean }[] = [];
  let quote: '"' | "'" | undefined;
  // A block scalar's lines are text however they are indented: those indented past this column.
  let scalarAbove: number | undefined;
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const indent = line.length - line.trimStart().length;
    const blank = indent === line.length;
    if (scalarAbove !== undefined) {
      if (blank || indent > scalarAbove) continue;
      scalarAbove = undefined;
    }
    // A document's start or end ends everything open, a quoted scalar included; what follows on the line (`--- [a]`) begins anew.
    if (/^(?:---|\.\.\.)(?:\s|$)/.test(line)) {
      blocks.length = 0;
      opened.length = 0;
      flow = 0;
      quote = undefined;
    }
    if (quote === undefined && flow === 0) {
      if (blank || line[indent] === "#") continue;
      // A sequence entry (`- `) stands half a column right of where it starts: a sequence may sit
      // at its parent key's indentation (`b:` then `- x`) and still be inside it. Each entry on
      // the line (`- `, and a complex key's `? ` or its value's `: `) opens a level, and what
      // follows it another.
      let at = indent;
      const column = (i: number) => (line[i] === "-" ? i + 0.5 : i);
      const first = column(at);
      while (blocks.length > 0 && blocks[blocks.length - 1]! >= first) blocks.pop();
      blocks.push(first);
      while (isEntry(line, at)) {
        at += 1;
        while (line[at] === " ") at++;
        if (at >= line.length) break;
        blocks.push(column(at));
      }
    }
    let content = line.length;
    for (let i = quote === undefined && flow === 0 ? indent : 0; i < line.length; i++) {
      const c = line[i]!;
      if (quote !== undefined) {
        if (c === "\\" && quote === '"') i++;
        else if (c === quote) {
          if (quote === "'" && line[i + 1] === "'") i++;
          else quote = undefined;
        }
        continue;
      }
      if (c === "#" && (i === 0 || line[i - 1] === " " || line[i - 1] === "\t")) {
        content = i;
        break;
      }
      // Quotes and brackets open something only where a scalar may start (within a plain
      // scalar, `it's` or `x[1]` is text); inside a flow collection a bracket always opens one.
      if ((c === '"' || c === "'") && startsScalar(line, i, flow > 0)) quote = c;
      else if ((c === "[" || c === "{") && (flow > 0 || startsScalar(line, i, false))) {
        opened.push({ sequence: c === "[", paired: false });
        if (++flow + blocks.length > max) return n + 1;
      } else if ((c === "]" || c === "}") && flow > 0) {
        flow -= opened.pop()!.paired ? 2 : 1;
      } else if (flow > 0 && (c === ":" || c === "?") && opened[opened.length - 1]!.sequence && !opened[opened.length - 1]!.paired) {
        // A key in a flow sequence makes its entry a mapping of one pair (counted whether or not this `:` is one).
        opened[opened.length - 1]!.paired = true;
        if (++flow + blocks.length > max) return n + 1;
      }
    }
    if (blocks.length + flow > max) return n + 1;
    // `key: |`, `- >-`, `|2` (its comment aside): the lines after it indented past this one are the scalar's text.
    if (quote === undefined && flow === 0 && /(?:^|[:?-]\s+)[|>][-+0-9]*$/.test(line.slice(indent, content).trimEnd())) scalarAbove = indent;
  }
  return undefined;
}

/**
 * Whether a scalar or collection may start at `line[i]`: at the line's first character, or
 * after `- `, `: `, `? `, `[`, `{` or `,` (in a flow collection also right after `:`, as in
 * JSON's `"a":"b"`).
 */
function startsScalar(line: string, i: number, inFlow: boolean): boolean {
  let j = i - 1;
  while (j >= 0 && (line[j] === " " || line[j] === "\t")) j--;
  if (j < 0) return true;
  const before = line[j]!;
  // After a bracket or a comma only within a flow collection: in a plain scalar (`a[`) they are text.
  if (before === "[" || before === "{" || before === ",") return inFlow;
  if (before === ":" && inFlow) return true;
  // An indicator followed by a space; `-` and `?` are one only where they start a token (`\-` is text).
  if (j === i - 1) return false;
  if (before === ":") return true;
  return (before === "-" || before === "?") && (j === 0 || line[j - 1] === " " || line[j - 1] === "\t");
}

/** Whether a block entry indicator (`-`, `?`, `:` followed by a space or the line's end) is at `line[at]`. */
function isEntry(line: string, at: number): boolean {
  return (line[at] === "-" || line[at] === "?" || line[at] === ":") && (at + 1 === line.length || line[at + 1] === " ");
}
