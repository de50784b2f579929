/**
 * The projection's regex search (TensorBoard's projector searches labels by regex). A pattern that does not compile
 * is an inline error, never an exception; an empty pattern matches nothing and highlights nothing.
 */
export type CompiledSearch =
  | { ok: true; regex: RegExp | null }
  | { ok: false; error: string };

export function compileSearch(pattern: string): CompiledSearch {
  if (pattern.trim() === '') return { ok: true, regex: null };
  try {
    // Case-insensitive, no global flag: `test` must not carry lastIndex from one label to the next.
    return { ok: true, regex: new RegExp(pattern, 'i') };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // "Invalid regular expression: /(a/i: Unterminated group" → "Unterminated group"
    return { ok: false, error: message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') };
  }
}

/** A token matches when the pattern finds its raw vocabulary string ("Ġking") or the label shown ("·king"). */
export function tokenMatches(regex: RegExp, token: string, label: string): boolean {
  return regex.test(token) || regex.test(label);
}
