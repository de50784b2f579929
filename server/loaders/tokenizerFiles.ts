/**
 * A lone tokenizer.json (any name ending in .json that holds a tokenizer), or a folder with only tokenizer files.
 */
import * as path from 'node:path';
import type { ModelLoader } from '../registry/types';
import { buildOpenedModel } from '../registry/openedModel';
import { loadTokenizer } from '../tokenization/loadTokenizer';
import { isDirectory, isFile, presentTokenizerFiles } from './files';

export const tokenizerFilesLoader: ModelLoader = {
  description: 'a tokenizer.json or a folder of tokenizer files',
  async canOpen(target) {
    if (await isDirectory(target)) return isFile(path.join(target, 'tokenizer.json'));
    return target.endsWith('.json') && (await isFile(target));
  },
  async open(target) {
    const folder = await isDirectory(target);
    return buildOpenedModel({
      target,
      format: 'tokenizer',
      files: folder ? await presentTokenizerFiles(target) : [target],
      tensors: [],
      tokenizer: await loadTokenizer(target),
    });
  },
};
