// Error messages are one line: names taken from a file (zip entries, pickle keys, tensor names) may
// hold newlines or other control characters, which are shown escaped instead.

/** `s` with every control character written as \n, \r, \t or \xNN. */
export function oneLine(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}
