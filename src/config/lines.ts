/**
 * Line splitting and error collection shared by the config and ignore-file parsers.
 * Pure: no node: imports. Built for hostile input: linear time, capped line length,
 * capped error list, never throws.
 */

import type { ConfigError } from "./types.js";

/** Longer lines are reported, not parsed (a 10 MB line must not cost a 10 MB regex run). */
export const MAX_LINE_CHARS = 65_536;
/** At most this many errors are kept; the rest are counted into one last message. */
export const MAX_ERRORS = 100;

export interface Line {
  /** 1-based. */
  readonly number: number;
  /** Without the line terminator ("\n", "\r\n" or "\r"); "" when the line is too long. */
  readonly text: string;
  /** Length in UTF-16 code units, before any truncation. */
  readonly length: number;
  readonly tooLong: boolean;
}

const LF = 10;
const CR = 13;

/**
 * Splits on "\n", "\r\n" and a lone "\r" (classic Mac files: read as one line, every key
 * after the first "#" would vanish into a comment without a word), after a leading byte-order
 * mark. One pass over the char codes: linear in the text.
 */
export function* splitLines(text: string): Generator<Line> {
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let number = 0;
  while (start <= text.length) {
    let end = start;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (c === LF || c === CR) break;
      end++;
    }
    const last = end >= text.length;
    number++;
    const length = end - start;
    const tooLong = length > MAX_LINE_CHARS;
    // A final empty "line" after the last line end is not a line.
    if (!(last && length === 0 && number > 1)) {
      yield { number, text: tooLong ? "" : text.slice(start, end), length, tooLong };
    }
    if (last) break;
    start = text.charCodeAt(end) === CR && text.charCodeAt(end + 1) === LF ? end + 2 : end + 1;
  }
}

/**
 * What is wrong with the characters of a line, if anything. `scope` "nul" checks only for NUL
 * (comments may hold any text); "all" also refuses control bytes and undecodable UTF-8, which
 * have no business in a value that may end up on a command line or in a file.
 */
/** The message for a line cut off by splitLines (its `tooLong` flag). */
export function tooLongMessage(line: Line): string {
  return `line is too long (${line.length} characters, at most ${MAX_LINE_CHARS})`;
}

export function badCharacters(text: string, scope: "nul" | "all"): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return "contains a NUL byte (binary file?)";
    if (scope === "nul") continue;
    if ((c < 32 && c !== 9) || c === 127) {
      return `contains control character 0x${c.toString(16).padStart(2, "0")} at column ${i + 1} (binary file?)`;
    }
    if (c === 0xfffd) return `contains bytes that are not valid UTF-8 at column ${i + 1}`;
  }
  return undefined;
}

/** A short, printable rendering of untrusted text for an error message. */
export function quoteForMessage(text: string, maxChars = 40): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  return JSON.stringify(cut);
}

/** Collects errors in order, keeps the first MAX_ERRORS, counts the rest. */
export class ErrorList {
  readonly #file: string;
  readonly #errors: ConfigError[] = [];
  #dropped = 0;

  constructor(file: string) {
    this.#file = file;
  }

  get count(): number {
    return this.#errors.length + this.#dropped;
  }

  add(line: number, key: string | undefined, message: string): void {
    if (this.#errors.length >= MAX_ERRORS) {
      this.#dropped++;
      return;
    }
    this.#errors.push({ file: this.#file, line, key, message });
  }

  /** Errors sorted by line (stable), plus one "and N more" entry when some were dropped. */
  list(): readonly ConfigError[] {
    const sorted = [...this.#errors].sort((a, b) => a.line - b.line);
    if (this.#dropped > 0) {
      sorted.push({
        file: this.#file,
        line: 0,
        key: undefined,
        message: `and ${this.#dropped} more error${this.#dropped === 1 ? "" : "s"} not shown`,
      });
    }
    return sorted;
  }
}
