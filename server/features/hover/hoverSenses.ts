/**
 * The hover's sense line: when an active model is a Backpack, a one-line summary of the hovered word's senses (the
 * strongest top words of its strongest senses) and a link that opens the Senses view. Like the neighbour line, it
 * never waits long: the Backpack is built in its worker when the model opens, and the lookup has a short budget.
 */
import { senseSummary, type WordSenses } from '../backpack';
import { isBackpackConfig } from '../backpack/backpackConfig';
import type { BackpackHost } from '../backpack/backpackHost';
import type { OpenedModel } from '../../registry/types';
import { showPiece } from '../../tokenization/display';
import { codeSpan } from './hoverMarkdown';
import { cursorToken, withinBudget } from './hoverNeighbours';

const BUDGET_MS = 400;

export const isBackpackModel = (model: OpenedModel) => model.format === 'huggingface' && isBackpackConfig(model.config);

/**
 * Starts building a Backpack in the worker, so its first hover is quick, and says so when unsaved edits from an
 * earlier session were restored.
 */
export function warmBackpack(host: BackpackHost, model: OpenedModel, log: (message: string) => void, tell: (message: string) => void): void {
  if (!isBackpackModel(model)) return;
  host.call<{ restored: boolean; editedWords: number }>('warm', model.path).then(
    ({ restored, editedWords }) => {
      if (restored) tell(`Model Lens: restored unsaved sense edits of ${editedWords} word(s) in ${model.name} from the last session. Save or Discard them from the Backpack Senses panel.`);
    },
    (error) => log(`Preparing the Backpack ${model.name} failed: ${String(error)}`),
  );
}

export async function senseSection(host: BackpackHost, models: OpenedModel[], document: { text: string; languageId: string; offset: number }): Promise<string | undefined> {
  const model = models.find(isBackpackModel);
  if (!model?.tokenizer) return undefined;
  const id = cursorToken(model, document.text, document.languageId, document.offset);
  if (id === undefined) return undefined;
  const token = model.tokenizer.idToToken(id) ?? String(id);
  const result = await withinBudget(host.call<WordSenses>('senses', model.path, { word: token, tokenId: id, top: 3 }).catch(() => undefined), BUDGET_MS);
  if (!result) return undefined;
  const args = encodeURIComponent(JSON.stringify([{ modelId: model.id, word: token }]));
  return `**Senses** of ${codeSpan(showPiece(token))} in ${model.name}: ${senseSummary(result, 5)} — [Show senses](command:modelLens.showSenses?${args})`;
}
