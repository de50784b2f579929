/**
 * Messages between the extension host and the Permutation Probe webview, typed like the server protocol. The
 * extension posts `ToPermutation`; the webview posts `FromPermutation`.
 *
 * The states are the server's own results (server/features/probes/), imported as types only so the bundle pulls in
 * no server code: the theory (`permutationTheory`), an empirical ensemble run (`runPermutationProbe`), the
 * experiment-1 reproduction (`runPermutationReproduction`) and the LM copy probe (`runCopyProbe`).
 */
import type { CopyProbeResult } from '../server/features/probes/copyProbe';
import type {
  PermutationProbeResult,
  PermutationTheoryResult,
  ReproductionResult,
} from '../server/features/probes/permutationProbe';

export type { CopyProbeResult, PermutationProbeResult, PermutationTheoryResult, ReproductionResult };

/** The hidden layer's parameterisation (REFERENCES §3). */
export type PermutationParam = 'ntk' | 'standard';

export type ToPermutation =
  /** The closed-form theory for one k (instant); draws the theory curve and the theory's ensemble sizes. */
  | { type: 'theory'; state: PermutationTheoryResult }
  /** An empirical ensemble: the accuracy curve with its theory curve, the stopping M and the per-input margins. */
  | { type: 'ensemble'; state: PermutationProbeResult }
  /** The experiment-1 reproduction: ensemble sizes by k, ours beside the paper's and the theory's. */
  | { type: 'reproduction'; state: ReproductionResult }
  /** The LM copy probe: exact-match accuracy by k × shots, failing positions and prompts. */
  | { type: 'copyProbe'; state: CopyProbeResult }
  /** Work is running; `fraction` (0…1) when known. The view shows a progress bar and Cancel until the next state or error. */
  | { type: 'busy'; message: string; fraction?: number }
  | { type: 'error'; message: string };

export type FromPermutation =
  | { type: 'ready' }
  /** Train a new ensemble (and recompute its theory) with the form's values. */
  | { type: 'run'; k: number; width: number; param: PermutationParam; target: number; maxModels: number }
  /** Run the experiment-1 reproduction preset. */
  | { type: 'reproduce' }
  /** Cancel the running job. */
  | { type: 'cancel' }
  | { type: 'copy'; format: 'json' | 'csv'; text: string }
  /** Open the prompts of one copy-probe cell. */
  | { type: 'showPrompt'; k: number; shots: number };
