/**
 * In a model made by Transplant Tokenizer, the hover says how the token under the cursor was made: its method and,
 * for OMP and the other anchor methods, the largest parts with their weights. The recipes come from the
 * transplant-report.json written beside the weights, read once per model.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { OpenedModel } from '../../registry/types';
import { showPiece } from '../../tokenization/display';
import type { TokenProvenance } from '../transplant/report';
import type { TokenRecipe } from '../transplant/methods/types';
import { findHoverTarget } from './findHoverTarget';
import { codeSpan, tokenAtCursor } from './hoverMarkdown';

const REPORT_FILE = 'transplant-report.json';
const PARTS_SHOWN = 5;
const recipesByModel = new Map<string, Promise<Map<number, TokenProvenance> | undefined>>();

async function readRecipes(model: OpenedModel): Promise<Map<number, TokenProvenance> | undefined> {
  const file = path.join(model.path, REPORT_FILE);
  try {
    const report = JSON.parse(await fs.readFile(file, 'utf8')) as { provenance?: TokenProvenance[] };
    return new Map((report.provenance ?? []).map((entry) => [entry.id, entry]));
  } catch {
    return undefined; // not a transplanted model, or an unreadable report: no provenance line
  }
}

function recipes(model: OpenedModel): Promise<Map<number, TokenProvenance> | undefined> {
  let pending = recipesByModel.get(model.id);
  if (!pending) {
    pending = readRecipes(model);
    recipesByModel.set(model.id, pending);
  }
  return pending;
}

function describeRecipe(label: string, recipe: TokenRecipe): string {
  const parts = (recipe.parts ?? []).slice(0, PARTS_SHOWN).map((part) => `${codeSpan(showPiece(part.token))} ${part.weight >= 0 ? '+' : '−'}${Math.abs(part.weight).toFixed(2)}`);
  const more = (recipe.moreParts ?? 0) + Math.max(0, (recipe.parts?.length ?? 0) - PARTS_SHOWN);
  const residual = recipe.residual !== undefined ? `, residual ${recipe.residual.toFixed(3)}` : '';
  return `${label} by **${recipe.method}**${parts.length ? `: ${parts.join(' · ')}${more > 0 ? ` · … ${more} more` : ''}` : ''}${residual}`;
}

export async function provenanceSection(models: OpenedModel[], document: { text: string; languageId: string; offset: number }): Promise<string | undefined> {
  const target = findHoverTarget(document.text, document.languageId, document.offset);
  if (!target || target.kind !== 'string') return undefined;
  for (const model of models) {
    if (model.format !== 'huggingface' || !model.tokenizer) continue;
    const table = await recipes(model);
    if (!table || table.size === 0) continue;
    const whole = model.tokenizer.tokenToId(target.value);
    const tokens = model.tokenizer.tokenize(target.value);
    const id = whole ?? tokens[tokenAtCursor(tokens, target.cursor)]?.id;
    const entry = id === undefined ? undefined : table.get(id);
    if (!entry) continue;
    const lines = [`**Transplanted** ${codeSpan(showPiece(entry.token))} (id ${entry.id}) in ${model.name}:`];
    if (entry.input) lines.push(`- ${describeRecipe('input row made', entry.input)}`);
    if (entry.output) lines.push(`- ${describeRecipe('output row made', entry.output)}`);
    return lines.join('\n');
  }
  return undefined;
}

/** Forgets a model's recipes (when it is closed or rewritten). */
export function forgetProvenance(modelId: string): void {
  recipesByModel.delete(modelId);
}
