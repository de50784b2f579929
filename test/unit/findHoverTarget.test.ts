import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findHoverTarget, unescapeWithMap } from '../../server/features/hover/findHoverTarget';

/** The offset of the first occurrence of `needle` in `text`, plus `delta`. */
const at = (text: string, needle: string, delta = 0) => {
  const index = text.indexOf(needle);
  assert.ok(index >= 0, `"${needle}" not in text`);
  return index + delta;
};

test('a double-quoted literal in Python yields its value and the cursor inside it', () => {
  const text = 'x = 1\nprompt = "Hello world"\n';
  const target = findHoverTarget(text, 'python', at(text, 'world', 2));
  assert.equal(target?.kind, 'string');
  assert.equal(target.kind === 'string' && target.value, 'Hello world');
  assert.equal(target.kind === 'string' && target.cursor, 8);
});

test('single quotes, backticks and the closing quote all count', () => {
  const js = "const a = 'left'; const b = `right side`;";
  const left = findHoverTarget(js, 'javascript', at(js, 'left'));
  assert.equal(left?.kind === 'string' && left.value, 'left');
  const right = findHoverTarget(js, 'javascript', at(js, 'side', 4)); // on the closing backtick
  assert.equal(right?.kind === 'string' && right.value, 'right side');
});

test('outside any literal there is no target', () => {
  const text = 'value = compute(a, b)  # "quoted" later';
  assert.equal(findHoverTarget(text, 'python', at(text, 'compute')), undefined);
});

test('Python triple-quoted strings span lines', () => {
  const text = 'DOC = """first line\nsecond line\nthird"""\nx = "other"';
  const target = findHoverTarget(text, 'python', at(text, 'second'));
  assert.equal(target?.kind === 'string' && target.value, 'first line\nsecond line\nthird');
  const other = findHoverTarget(text, 'python', at(text, 'other'));
  assert.equal(other?.kind === 'string' && other.value, 'other');
});

test('a JS template literal spans lines, but a Python backtick does not start one', () => {
  const js = 'const t = `one\ntwo`;';
  assert.equal(findHoverTarget(js, 'typescript', at(js, 'two'))?.kind, 'string');
  const py = '# `not a string\nx = "real"\n# end`';
  const target = findHoverTarget(py, 'python', at(py, 'real'));
  assert.equal(target?.kind === 'string' && target.value, 'real');
});

test('escapes resolve and the cursor maps through them', () => {
  const text = String.raw`{"piece": "\u0120hello\nworld"}`;
  const target = findHoverTarget(text, 'json', at(text, 'world', 1));
  assert.ok(target?.kind === 'string');
  assert.equal(target.value, 'Ġhello\nworld');
  assert.equal(target.value[target.cursor], 'o');
  assert.deepEqual(unescapeWithMap(String.raw`a\"b`).value, 'a"b');
});

test('an apostrophe in a comment does not swallow the next line', () => {
  const text = "# don't do this\nname = 'kept'";
  const target = findHoverTarget(text, 'python', at(text, 'kept'));
  assert.equal(target?.kind === 'string' && target.value, 'kept');
});

test('Markdown and plain text hover the paragraph', () => {
  const text = '# Title\n\nFirst paragraph line one\nline two.\n\nSecond paragraph.';
  const target = findHoverTarget(text, 'markdown', at(text, 'line two'));
  assert.equal(target?.kind === 'string' && target.value, 'First paragraph line one\nline two.');
  assert.equal(target?.kind === 'string' && target.source, 'paragraph');
  const second = findHoverTarget(text, 'plaintext', at(text, 'Second'));
  assert.equal(second?.kind === 'string' && second.value, 'Second paragraph.');
});

test('an integer inside a list of ids yields the whole list and which one is hovered', () => {
  const text = '{"ids": [128000, 791, 4062]}';
  const target = findHoverTarget(text, 'json', at(text, '791', 1));
  assert.deepEqual(target?.kind === 'ids' && target.ids, [128000, 791, 4062]);
  assert.equal(target?.kind === 'ids' && target.hovered, 1);
  const multiLine = 'ids = [\n  1,\n  2,\n  3,\n]';
  const three = findHoverTarget(multiLine, 'python', at(multiLine, '3'));
  assert.deepEqual(three?.kind === 'ids' && three.ids, [1, 2, 3]);
});

test('numbers that are not a list of ids are not decoded', () => {
  const text = 'x = [1.5, 2]\ny = f(3, a)\nz = 42';
  assert.equal(findHoverTarget(text, 'python', at(text, '2]'))?.kind, undefined);
  assert.equal(findHoverTarget(text, 'python', at(text, '3,')), undefined);
  assert.equal(findHoverTarget(text, 'python', at(text, '42')), undefined);
});

test('unterminated and empty literals give nothing, and offsets outside the text are safe', () => {
  assert.equal(findHoverTarget('x = "open', 'python', 6), undefined);
  assert.equal(findHoverTarget('x = ""', 'python', 5), undefined);
  assert.equal(findHoverTarget('abc', 'python', 99), undefined);
  assert.equal(findHoverTarget('', 'markdown', 0), undefined);
});
