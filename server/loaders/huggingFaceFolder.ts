/**
 * A Hugging Face model folder: config.json, tokenizer files, and model.safetensors or a sharded
 * model.safetensors.index.json. Opening reads only the config, the tokenizer and the safetensors headers; tensor
 * bytes are read when a feature asks for them, so a 10 GB checkpoint opens as fast as a small one.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ModelLensError } from '../errors';
import type { ModelLoader, TensorInfo } from '../registry/types';
import { buildOpenedModel } from '../registry/openedModel';
import { loadTokenizer } from '../tokenization/loadTokenizer';
import { isDirectory, isFile, presentTokenizerFiles, readJsonFile } from './files';
import { readSafetensorsHeader, readSafetensorsIndex } from './safetensors';

const PICKLE_WEIGHTS = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'model.pth', 'model.ckpt'];

/** Tensors of a folder's safetensors weights, from headers only; [] when the folder has none. */
async function readWeightHeaders(folder: string): Promise<{ tensors: TensorInfo[]; files: string[] }> {
  const index = path.join(folder, 'model.safetensors.index.json');
  if (await isFile(index)) {
    const sharded = await readSafetensorsIndex(index);
    return { tensors: sharded.tensors, files: [index, ...sharded.shards] };
  }
  const single = path.join(folder, 'model.safetensors');
  if (await isFile(single)) {
    const header = await readSafetensorsHeader(single);
    return { tensors: header.tensors, files: [single] };
  }
  // Some folders name their weights differently; take every *.safetensors as one checkpoint.
  const others = (await fs.readdir(folder)).filter((name) => name.endsWith('.safetensors')).sort();
  if (others.length > 0) {
    const headers = await Promise.all(others.map((name) => readSafetensorsHeader(path.join(folder, name))));
    return { tensors: headers.flatMap((header) => header.tensors), files: headers.map((header) => header.file) };
  }
  const pickles: string[] = [];
  for (const name of PICKLE_WEIGHTS) if (await isFile(path.join(folder, name))) pickles.push(name);
  if (pickles.length > 0) {
    throw new ModelLensError(
      'unsupported',
      `holds only pickle weights (${pickles.join(', ')}), which Model Lens refuses to load because unpickling can run code.`,
      folder,
      'Convert them to safetensors, e.g. in Python: model.save_pretrained(out_dir, safe_serialization=True).',
    );
  }
  return { tensors: [], files: [] };
}

export const huggingFaceFolderLoader: ModelLoader = {
  description: 'a Hugging Face folder (config.json with safetensors weights and/or tokenizer.json)',
  async canOpen(target) {
    return (await isDirectory(target)) && (await isFile(path.join(target, 'config.json')));
  },
  async open(folder) {
    const configFile = path.join(folder, 'config.json');
    const config = await readJsonFile(configFile);
    const weights = await readWeightHeaders(folder);
    const tokenizerFiles = await presentTokenizerFiles(folder);
    const hasTokenizer = tokenizerFiles.some((file) => path.basename(file) === 'tokenizer.json');
    return buildOpenedModel({
      target: folder,
      format: 'huggingface',
      files: [configFile, ...tokenizerFiles, ...weights.files],
      config,
      tensors: weights.tensors,
      tokenizer: hasTokenizer ? await loadTokenizer(folder) : undefined,
    });
  },
};
