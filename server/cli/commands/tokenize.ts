import * as fs from 'node:fs/promises';
import { ModelRegistry } from '../../registry/registry';
import { tokenizeWithModel } from '../../features/tokenize';
import { showPiece } from '../../tokenization/display';
import { flag, stringOption, usage } from '../args';
import { json, onePath, type Command } from '../command';

export const tokenizeCommand: Command = {
  summary: 'tokens of a text, with ids and UTF-16 offsets',
  usage: 'model-lens tokenize <path> (--text T | --file F) [--add-special] [--json]',
  options: { text: {}, file: {}, 'add-special': { flag: true }, json: { flag: true } },
  async run(args, out) {
    const modelPath = onePath(args, 'tokenize');
    const textOption = stringOption(args, 'text');
    const fileOption = stringOption(args, 'file');
    if ((textOption === undefined) === (fileOption === undefined)) throw usage('give exactly one of --text or --file');
    const text = textOption ?? (await readTextFile(fileOption!));
    const model = await new ModelRegistry().open(modelPath);
    const result = tokenizeWithModel(model, text, flag(args, 'add-special'));
    if (flag(args, 'json')) return out(json({ count: result.count, tokens: result.tokens }));
    const pieces = result.tokens.map((token) => `${showPiece(token.text)}:${token.id}${token.special ? '*' : ''}`);
    out(`${result.count} tokens\n${pieces.join(' ')}`);
  },
};

async function readTextFile(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw usage(`cannot read --file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
