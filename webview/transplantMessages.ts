/**
 * Messages between the extension host and the Transplant Report webview, typed like the server protocol. The
 * extension posts `ToTransplant`; the webview posts `FromTransplant`.
 *
 * The report itself is the server's `TransplantReport` (server/features/transplant/report.ts, the same object as
 * `transplant-report.json` and `model-lens transplant --json`); the webview only draws it.
 */
import type { TransplantReport, TransplantStage } from '../server/features/transplant/report';

export type { TransplantReport, TransplantStage };

export type ToTransplant =
  /** A finished run (or a `--compare` self-check): the view shows the report. */
  | { type: 'report'; report: TransplantReport }
  /** A run is going: overall `fraction` done (0..1), the current stage, and seconds left once they can be estimated. */
  | { type: 'progress'; stage: TransplantStage; fraction: number; etaSeconds?: number; message?: string }
  /** The run failed or was cancelled; the view shows `message` (a report shown before stays). */
  | { type: 'error'; message: string };

export type FromTransplant =
  /** Sent once, after the saved state has been restored. */
  | { type: 'ready' }
  /** Open the new checkpoint in Model Lens. */
  | { type: 'openModel'; path: string }
  /** Reveal the output folder (or a file in it) in the OS file manager / explorer. */
  | { type: 'revealFile'; path: string }
  | { type: 'copy'; format: 'json'; text: string }
  /** Stop the running transplant (nothing partial is left behind). */
  | { type: 'cancel' };
