/**
 * Finds what a hover at an offset is about, from the document text alone, in any language: a string literal, a
 * paragraph of prose, or an integer inside a list of ids. Pure and allocation-light, because it runs on every hover.
 */

export interface StringTarget {
  kind: 'string';
  /** The literal's value with escapes resolved (what a tokenizer would see). */
  value: string;
  /** Document offsets of the literal's content (inside the quotes). */
  start: number;
  end: number;
  /** The cursor as an offset into `value`. */
  cursor: number;
  /** Where the value came from, which changes how the hover reads. */
  source: 'literal' | 'paragraph';
}

export interface IdListTarget {
  kind: 'ids';
  ids: number[];
  /** Index into `ids` of the integer under the cursor. */
  hovered: number;
  start: number;
  end: number;
}

export type HoverTarget = StringTarget | IdListTarget;

const PROSE_LANGUAGES = new Set(['markdown', 'plaintext', 'text', 'restructuredtext', 'asciidoc', 'latex']);
/** Multi-line literals are found by scanning from the top; above this size we only look at the current line. */
const MULTILINE_SCAN_LIMIT = 2_000_000;

export function findHoverTarget(text: string, languageId: string, offset: number): HoverTarget | undefined {
  if (offset < 0 || offset > text.length) return undefined;
  const ids = findIdList(text, offset);
  if (ids) return ids;
  if (PROSE_LANGUAGES.has(languageId)) return findParagraph(text, offset);
  return findStringLiteral(text, offset, multilineDelimiters(languageId));
}

/** Which delimiters may span lines in a language: backtick templates, triple-quoted strings, or neither. */
function multilineDelimiters(languageId: string): { backtick: boolean; triple: boolean } {
  const backtick = /^(javascript|typescript|javascriptreact|typescriptreact|vue|svelte|go)$/.test(languageId);
  const triple = /^(python|jupyter|julia|kotlin|scala|toml|groovy|swift|starlark|mojo)$/.test(languageId);
  return { backtick, triple };
}

// ---- integers in a list -------------------------------------------------------------------------------------------

const isDigit = (c: number) => c >= 48 && c <= 57;

/** `[128000, 791, 4062]` with the cursor on a number: the whole list, if it holds only non-negative integers. */
export function findIdList(text: string, offset: number): IdListTarget | undefined {
  let numStart = offset;
  let numEnd = offset;
  while (numStart > 0 && isDigit(text.charCodeAt(numStart - 1))) numStart--;
  while (numEnd < text.length && isDigit(text.charCodeAt(numEnd))) numEnd++;
  if (numStart === numEnd) return undefined;

  // Walk outwards over digits, commas and whitespace to the enclosing brackets.
  const allowed = (c: number) => isDigit(c) || c === 44 /* , */ || c === 32 || c === 9 || c === 10 || c === 13;
  const maxSpan = 200_000;
  let open = numStart - 1;
  while (open >= 0 && numStart - open < maxSpan && allowed(text.charCodeAt(open))) open--;
  let close = numEnd;
  while (close < text.length && close - numEnd < maxSpan && allowed(text.charCodeAt(close))) close++;
  const opener = text[open];
  const closer = text[close];
  const pairs: Record<string, string> = { '[': ']', '(': ')', '{': '}' };
  if (open < 0 || close >= text.length || pairs[opener] !== closer) return undefined;

  const body = text.slice(open + 1, close);
  const parts = body.split(',').map((part) => part.trim());
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop(); // trailing comma
  if (parts.length === 0 || parts.some((part) => !/^\d{1,9}$/.test(part))) return undefined;

  const before = text.slice(open + 1, numStart);
  const hovered = before.split(',').length - 1;
  return { kind: 'ids', ids: parts.map(Number), hovered, start: open + 1, end: close };
}

// ---- prose --------------------------------------------------------------------------------------------------------

/** The paragraph (text between blank lines) around the cursor, trimmed of its line ends. */
export function findParagraph(text: string, offset: number): StringTarget | undefined {
  const blankLine = /\n[ \t]*\r?\n/g;
  let start = 0;
  let end = text.length;
  for (let match = blankLine.exec(text); match; match = blankLine.exec(text)) {
    if (match.index + match[0].length <= offset) start = match.index + match[0].length;
    else if (match.index >= offset) {
      end = match.index;
      break;
    } else {
      return undefined; // the cursor is on the blank line itself
    }
  }
  while (end > start && /\s/.test(text[end - 1])) end--;
  while (start < end && /\s/.test(text[start])) start++;
  if (start >= end || offset < start || offset > end) return undefined;
  return { kind: 'string', value: text.slice(start, end), start, end, cursor: offset - start, source: 'paragraph' };
}

// ---- string literals ----------------------------------------------------------------------------------------------

interface Literal {
  /** Offsets of the content, inside the delimiters. */
  start: number;
  end: number;
}

export function findStringLiteral(
  text: string,
  offset: number,
  multiline: { backtick: boolean; triple: boolean } = { backtick: true, triple: true },
): StringTarget | undefined {
  const literal = findLiteralAround(text, offset, multiline);
  if (!literal) return undefined;
  const raw = text.slice(literal.start, literal.end);
  const { value, map } = unescapeWithMap(raw);
  // map[i] is the raw index where value[i] came from; find the value index of the cursor.
  const rawCursor = offset - literal.start;
  let cursor = 0;
  while (cursor < value.length && map[cursor] < rawCursor) cursor++;
  return { kind: 'string', value, start: literal.start, end: literal.end, cursor, source: 'literal' };
}

function findLiteralAround(
  text: string,
  offset: number,
  multiline: { backtick: boolean; triple: boolean },
): Literal | undefined {
  const mayHaveMultiline =
    (multiline.triple && /'''|"""/.test(text)) || (multiline.backtick && text.includes('`'));
  if (text.length <= MULTILINE_SCAN_LIMIT && mayHaveMultiline) {
    const multi = scanLiterals(text, 0, text.length, offset, multiline);
    if (multi) return multi;
    // A file with backticks in prose or unbalanced quotes can fool the whole-file scan; fall back to the line.
  }
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  let lineEnd = text.indexOf('\n', offset);
  if (lineEnd < 0) lineEnd = text.length;
  return scanLiterals(text, lineStart, lineEnd, offset, { backtick: false, triple: false });
}

/**
 * Scans [from, to) for quoted literals and returns the one whose content holds `offset` (the closing quote counts,
 * so a hover on either delimiter works). `multiline` says whether triple quotes and backticks may span lines.
 */
function scanLiterals(
  text: string,
  from: number,
  to: number,
  offset: number,
  multiline: { backtick: boolean; triple: boolean },
): Literal | undefined {
  const scansWholeFile = multiline.backtick || multiline.triple;
  let i = from;
  while (i < to) {
    const c = text[i];
    if (c !== '"' && c !== "'" && c !== '`') {
      if (i > offset) return undefined;
      i++;
      continue;
    }
    const triple = multiline.triple && (c === '"' || c === "'") && text[i + 1] === c && text[i + 2] === c;
    const delimiter = triple ? c.repeat(3) : c;
    const spansLines = triple || (multiline.backtick && c === '`');
    const contentStart = i + delimiter.length;
    let j = contentStart;
    let closed = -1;
    while (j < to) {
      const d = text[j];
      if (d === '\\') {
        j += 2;
        continue;
      }
      if (d === '\n' && !spansLines) break;
      if (text.startsWith(delimiter, j)) {
        closed = j;
        break;
      }
      j++;
    }
    if (closed < 0) {
      // Unterminated: nothing after it can be trusted on this line.
      if (!scansWholeFile) return undefined;
      i = j + 1;
      continue;
    }
    if (offset >= i && offset <= closed + delimiter.length - 1 && closed > contentStart) {
      return { start: contentStart, end: closed };
    }
    if (i > offset) return undefined;
    i = closed + delimiter.length;
  }
  return undefined;
}

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', b: '\b', f: '\f', v: '\v' };

/** Resolves the escapes common to JSON, JS and Python strings, remembering where each character came from. */
export function unescapeWithMap(raw: string): { value: string; map: number[] } {
  if (!raw.includes('\\')) return { value: raw, map: Array.from({ length: raw.length }, (_, i) => i) };
  let value = '';
  const map: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== '\\' || i + 1 >= raw.length) {
      value += c;
      map.push(i);
      continue;
    }
    const next = raw[i + 1];
    const at = i;
    let produced: string | undefined;
    let consumed = 2;
    if (next in SIMPLE_ESCAPES) produced = SIMPLE_ESCAPES[next];
    else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(raw.slice(i + 2, i + 6))) {
      produced = String.fromCharCode(parseInt(raw.slice(i + 2, i + 6), 16));
      consumed = 6;
    } else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(raw.slice(i + 2, i + 4))) {
      produced = String.fromCharCode(parseInt(raw.slice(i + 2, i + 4), 16));
      consumed = 4;
    } else produced = next; // \\ \" \' \` and unknown escapes keep the character
    for (const ch of produced) {
      value += ch;
      map.push(at);
    }
    i += consumed - 1;
  }
  return { value, map };
}
