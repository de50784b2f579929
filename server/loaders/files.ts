/**
 * Small, defensive file helpers shared by the loaders.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { badInput } from '../errors';

const MAX_CONFIG_BYTES = 10_000_000;

export async function isDirectory(target: string): Promise<boolean> {
  return (await fs.stat(target).catch(() => undefined))?.isDirectory() ?? false;
}

export async function isFile(target: string): Promise<boolean> {
  return (await fs.stat(target).catch(() => undefined))?.isFile() ?? false;
}

/** Reads a small JSON file, refusing oversize or malformed ones with a clear message. */
export async function readJsonFile(file: string, maxBytes = MAX_CONFIG_BYTES): Promise<Record<string, unknown>> {
  const stat = await fs.stat(file);
  if (stat.size > maxBytes) throw badInput(file, `is ${stat.size} bytes, more than a ${path.basename(file)} should be.`, 'Check that it is the right file.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw badInput(file, `is not valid JSON (${(error as Error).message}).`, 'Repair or re-download the file.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badInput(file, 'must hold a JSON object.', 'Repair or re-download the file.');
  }
  return parsed as Record<string, unknown>;
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** The tokenizer files a folder actually has, as absolute paths. */
export async function presentTokenizerFiles(folder: string): Promise<string[]> {
  const present: string[] = [];
  for (const name of TOKENIZER_FILES) if (await isFile(path.join(folder, name))) present.push(path.join(folder, name));
  return present;
}
