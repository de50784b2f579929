/**
 * Every format Model Lens opens, in the order they are tried. A new format is one loader file added here.
 */
import type { ModelLoader } from '../registry/types';
import { huggingFaceFolderLoader } from './huggingFaceFolder';
import { tokenizerFilesLoader } from './tokenizerFiles';

export const MODEL_LOADERS: readonly ModelLoader[] = [huggingFaceFolderLoader, tokenizerFilesLoader];
