/**
 * Do the base and donor tokenizers split numbers the same way? The paper's main risk: a model trained on one digit
 * segmentation (single digits, or groups of up to three) loses arithmetic (GSM8K) when given another.
 */
import type { TokenizerHandle } from '../../tokenization/tokenizer';
import type { DigitReport, DigitSplit } from './report';

export const DIGIT_SAMPLES = ['7', '42', '123', '2024', '12345', '1234567', '3.14159', '1,000,000', 'x=98765+4321'];

const decoder = new TextDecoder('utf-8');

/** The digit runs of each piece sequence, e.g. "12345" → ["123", "45"] for Llama 3, ["1","2","3","4","5"] for Gemma. */
function digitSegments(tokenizer: TokenizerHandle, text: string): { pieces: string[]; segments: string[] } {
  const spans = tokenizer.tokenize(text);
  const pieces = spans.map((span) => decoder.decode(tokenizer.tokenBytes(span.id)));
  const segments = pieces.map((piece) => piece.replace(/[^0-9]/g, '')).filter((digits) => digits.length > 0);
  return { pieces, segments };
}

function classify(segmentsPerSample: string[][]): DigitSplit['style'] {
  const all = segmentsPerSample.flat();
  if (all.every((s) => s.length === 1)) return 'single digits';
  if (all.every((s) => s.length <= 3) && all.some((s) => s.length > 1)) return 'groups of up to 3';
  return 'mixed';
}

export function compareDigitSplitting(base: TokenizerHandle, donor: TokenizerHandle, samples: readonly string[] = DIGIT_SAMPLES): DigitReport {
  const baseRuns = samples.map((text) => digitSegments(base, text));
  const donorRuns = samples.map((text) => digitSegments(donor, text));
  const differs = samples.some((_, i) => baseRuns[i].segments.join('|') !== donorRuns[i].segments.join('|'));
  const split = (runs: typeof baseRuns): DigitSplit => ({
    style: classify(runs.map((r) => r.segments)),
    examples: samples.map((text, i) => ({ text, pieces: runs[i].pieces })),
  });
  const baseSplit = split(baseRuns);
  const donorSplit = split(donorRuns);
  return {
    base: baseSplit,
    donor: donorSplit,
    differs,
    note: differs
      ? `Numbers split differently (base: ${baseSplit.style}; donor: ${donorSplit.style}). Expect arithmetic to suffer until the model is tuned on the new segmentation.`
      : `Both tokenizers split numbers the same way (${baseSplit.style}).`,
  };
}
