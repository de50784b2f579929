/**
 * The LSP hover: find what the cursor is on, then describe it with the active tokenizers.
 */
import * as path from 'node:path';
import { findHoverTarget } from './findHoverTarget';
import { renderIdListHover, renderStringHover, type NamedTokenizer } from './hoverMarkdown';
import type { ServerSettings } from '../../protocol';

export interface HoverRequest {
  text: string;
  languageId: string;
  uri: string;
  offset: number;
}

export interface HoverAnswer {
  markdown: string;
  /** Document offsets the hover is about, for the editor's highlight. */
  start: number;
  end: number;
}

const VOCABULARY_FILES = /(^|[\\/])(tokenizer\.json|vocab\.json|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json)$/;

export function computeHover(
  request: HoverRequest,
  tokenizers: NamedTokenizer[],
  settings: Pick<ServerSettings, 'hoverDisabledLanguages' | 'hoverMaxTokens'>,
): HoverAnswer | undefined {
  if (tokenizers.length === 0 || settings.hoverDisabledLanguages.includes(request.languageId)) return undefined;
  const target = findHoverTarget(request.text, request.languageId, request.offset);
  if (!target) return undefined;

  if (target.kind === 'ids') {
    return {
      markdown: renderIdListHover(target, tokenizers[0], settings.hoverMaxTokens),
      start: target.start,
      end: target.end,
    };
  }
  const fileName = decodeURIComponent(request.uri.replace(/^[a-z-]+:\/*/i, '/'));
  const markdown = renderStringHover(target, tokenizers, {
    maxTokens: settings.hoverMaxTokens,
    inVocabularyFile: VOCABULARY_FILES.test(path.basename(fileName)) || VOCABULARY_FILES.test(fileName),
  });
  return { markdown, start: target.start, end: target.end };
}
