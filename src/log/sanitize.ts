/**
 * Makes text safe for a log line: attacker-influenced text (reverse DNS names can hold any byte)
 * must not forge extra lines, drive a terminal, or reorder text on screen, and must not make
 * lines unbounded. Pure.
 */

/**
 * Controls (C0, DEL, C1: `\p{Cc}`), bidi overrides/isolates, line/paragraph separators, and the
 * backslash itself (so that an escape sequence in the output is always ours).
 */
const UNSAFE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/gu;

function escapeChar(ch: string): string {
  if (ch === "\\") return "\\\\";
  const code = ch.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ELLIPSIS = "...";

/** Cuts `text` to at most `maxBytes` of UTF-8, on a character boundary, marking the cut. */
export function capUtf8(text: string, maxBytes: number): string {
  // A UTF-16 unit is at most 3 bytes of UTF-8: short lines (all of them, nearly) need no encoding.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes - ELLIPSIS.length);
  // Step back over continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end)) + ELLIPSIS.slice(0, maxBytes);
}

/** Escape, then cap: the one function every sink applies to a message. */
export function safeLine(text: string, maxBytes: number): string {
  return capUtf8(escapeControls(text), maxBytes);
}
