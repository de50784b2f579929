/**
 * Every format Model Lens opens, in the order they are tried. A new format is one loader file added here.
 */
import type { ModelLoader } from '../registry/types';
import { huggingFaceFolderLoader } from './huggingFaceFolder';
import { tokenizerFilesLoader } from './tokenizerFiles';
import { onnxLoader } from './onnx';
import { ggufLoader } from './gguf';
import { wordVectorsLoader } from './wordVectors';

// Word vectors come before tokenizer files: both claim .json, and the word-vector check is the narrower one.
export const MODEL_LOADERS: readonly ModelLoader[] = [huggingFaceFolderLoader, onnxLoader, ggufLoader, wordVectorsLoader, tokenizerFilesLoader];
