/**
 * Unsaved sense edits survive a crash or a closed editor: after every change, edits that are not in the model's own
 * sidecar are journaled to the server's storage (`<storage>/sense-edits/<hash of the model path>/`, the same sidecar
 * format), and removed once they are saved or discarded. Opening the model again restores them as unsaved, so the
 * user still decides between Save and Discard. Nothing is written beside the model. The CLI sets no folder: no journal.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { SenseEdits } from './senseEdits';

let journalRoot: string | undefined;

export function setEditJournalDir(dir: string | undefined): void {
  journalRoot = dir;
}

function journalFolder(modelPath: string): string | undefined {
  if (!journalRoot) return undefined;
  const key = createHash('sha256').update(path.resolve(modelPath)).digest('hex').slice(0, 32);
  return path.join(journalRoot, 'sense-edits', key);
}

/** Brings the journal in line with `edits`: written while they hold unsaved changes, removed otherwise. */
export async function journalEdits(modelPath: string, edits: SenseEdits): Promise<void> {
  const folder = journalFolder(modelPath);
  if (!folder) return;
  if (!edits.dirty) {
    await fsp.rm(folder, { recursive: true, force: true });
    return;
  }
  await fsp.mkdir(folder, { recursive: true });
  await edits.save(folder);
  await fsp.writeFile(path.join(folder, 'model-path.txt'), `${path.resolve(modelPath)}\n`);
}

/** Loads journaled unsaved edits into `edits` (marking them unsaved); false when there are none. */
export async function restoreJournaledEdits(modelPath: string, edits: SenseEdits): Promise<boolean> {
  const folder = journalFolder(modelPath);
  if (!folder) return false;
  const owner = await fsp.readFile(path.join(folder, 'model-path.txt'), 'utf8').catch(() => undefined);
  if (owner?.trim() !== path.resolve(modelPath)) return false;
  try {
    if (!(await edits.load(folder))) return false;
  } catch {
    // A journal that no longer fits the model (it changed on disk) is dropped rather than blocking the open.
    await fsp.rm(folder, { recursive: true, force: true });
    return false;
  }
  edits.dirty = true;
  return true;
}
