/**
 * The Model Lens language server: one process per window, started by the extension over IPC. It owns the open
 * models and answers hovers and the custom requests of `protocol.ts`. Errors a user can act on travel as
 * ResponseErrors carrying `UserErrorData`; anything else is logged as a bug and answered without crashing.
 */
import {
  createConnection,
  MessageType,
  ProposedFeatures,
  ResponseError,
  ShowMessageNotification,
  TextDocuments,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
  type InitializeParams,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import * as protocol from './protocol';
import { ModelLensError, isModelLensError } from './errors';
import { ModelRegistry } from './registry/registry';
import { describeModel, summariseModel } from './features/summarise';
import { tokenizeWithModel } from './features/tokenize';
import { computeHover } from './features/hover/hover';
import { neighbourSection } from './features/hover/hoverNeighbours';
import { forgetProvenance, provenanceSection } from './features/hover/hoverProvenance';
import { senseSection, warmBackpack } from './features/hover/hoverSenses';
import { EmbeddingIndex } from './features/neighbours/embeddingIndex';
import { findAnalogy, findNeighbours, type Control } from './features/neighbours/neighbours';
import { projectEmbeddings } from './features/neighbours/projection';
import { compareModels } from './features/neighbours/compareModels';
import { setWordVectorCacheDir } from './loaders/wordVectors';
import { permutationTheory, runPermutationProbe, runPermutationReproduction } from './features/probes/permutationProbe';
import { runCopyProbe } from './features/probes/copyProbe';
import { predictNextToken } from './features/predict';
import { BackpackHost } from './features/backpack/backpackHost';
import { openCausalLanguageModel, registerCausalLanguageModelRunner } from './features/probes/causalLanguageModel';
import { runTransplant } from './features/transplant';
import type { OpenedModel } from './registry/types';

export interface InitializationOptions {
  settings?: Partial<protocol.ServerSettings>;
  /** Paths to open as soon as the server is up (start-up models and, after a restart, what was open before). */
  models?: string[];
  /** Where caches (converted word vectors) may be written: the extension's storage folder. */
  storagePath?: string;
}

export const DEFAULT_SETTINGS: protocol.ServerSettings = {
  activeTokenizers: [],
  hoverDisabledLanguages: [],
  hoverMaxTokens: 48,
  embeddingStorage: 'f32',
};

/** Operations that outlast this get a progress notification in the editor (with a Cancel button). */
const PROGRESS_AFTER_MS = 300;

/** Converts a thrown value into what the client receives; user errors keep their file and hint. */
export function toResponseError(error: unknown, log: (message: string) => void): ResponseError<protocol.UserErrorData | undefined> {
  if (isModelLensError(error)) {
    const data: protocol.UserErrorData = { modelLensError: true, code: error.code, file: error.file, hint: error.hint };
    return new ResponseError(-32001, error.toUserMessage(), data);
  }
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  log(`Internal error: ${message}`);
  return new ResponseError(-32603, `Model Lens internal error: ${error instanceof Error ? error.message : String(error)}`, undefined);
}

export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const registry = new ModelRegistry();
  const embeddings = new EmbeddingIndex(() => settings.embeddingStorage);
  const backpacks = new BackpackHost();
  registerCausalLanguageModelRunner(backpacks.runner(), { first: true });
  let settings: protocol.ServerSettings = { ...DEFAULT_SETTINGS };
  let startupModels: string[] = [];
  // Requests wait for the start-up models, so a command run while they load sees them instead of "nothing open".
  let startupDone!: () => void;
  const startup = new Promise<void>((resolve) => (startupDone = resolve));

  const log = (message: string) => connection.console.log(message);
  const summaries = () => registry.list().map((model) => summariseModel(model, registry.isActive(model)));
  const announce = () => void connection.sendNotification(protocol.modelsChanged, summaries());

  /** Wraps a handler so that every failure reaches the client as a clear ResponseError and never kills the server. */
  function handle<P, R>(handler: (params: P, token: CancellationToken) => R | Promise<R>) {
    return async (params: P, token: CancellationToken): Promise<R | ResponseError<protocol.UserErrorData | undefined>> => {
      try {
        await startup;
        return await handler(params, token);
      } catch (error) {
        return toResponseError(error, log);
      }
    };
  }

  const applySettings = (next: Partial<protocol.ServerSettings>) => {
    settings = { ...settings, ...next };
    registry.setActive(settings.activeTokenizers);
  };

  connection.onInitialize((params: InitializeParams) => {
    const options = (params.initializationOptions ?? {}) as InitializationOptions;
    applySettings(options.settings ?? {});
    startupModels = options.models ?? [];
    if (options.storagePath) setWordVectorCacheDir(`${options.storagePath}/vectors`);
    backpacks.configure(options.storagePath);
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
      },
      serverInfo: { name: 'Model Lens' },
    };
  });

  connection.onInitialized(async () => {
    // Open start-up models one by one; a broken one is reported and the rest still open.
    for (const modelPath of startupModels) {
      try {
        preloadWordVectors(await registry.open(modelPath));
      } catch (error) {
        const message = isModelLensError(error) ? error.toUserMessage() : String(error);
        void connection.window.showErrorMessage(`Model Lens could not open a start-up model: ${message}`);
      }
      announce(); // each model appears as soon as it is open
    }
    startupDone();
  });

  connection.onNotification(protocol.updateSettings, (next) => {
    applySettings(next);
    announce();
  });

  connection.onRequest(
    protocol.openModel,
    handle(async ({ path }) => {
      const model = await registry.open(path);
      preloadWordVectors(model);
      announce();
      return summariseModel(model, registry.isActive(model));
    }),
  );
  connection.onRequest(
    protocol.closeModel,
    handle(async ({ id }) => {
      registry.close(id);
      forgetProvenance(id);
      await backpacks.forget(id);
      await embeddings.forget(id);
      announce();
    }),
  );
  connection.onRequest(protocol.listModels, async () => {
    await startup;
    return summaries();
  });
  connection.onRequest(
    protocol.inspectModel,
    handle(({ id }) => {
      const model = registry.get(id);
      return describeModel(model, registry.isActive(model));
    }),
  );
  connection.onRequest(
    protocol.tokenize,
    handle(({ text, modelId, addSpecialTokens }) => {
      const model = modelId ? registry.get(modelId) : firstActiveModel(registry);
      return tokenizeWithModel(model, text, addSpecialTokens);
    }),
  );
  connection.onRequest(
    protocol.compareTokenizers,
    handle(({ text, modelIds }) => {
      const ids = modelIds ?? registry.activeTokenizers().map((named) => named.modelId);
      if (ids.length === 0) throw noTokenizer();
      return ids.map((id) => tokenizeWithModel(registry.get(id), text));
    }),
  );
  connection.onRequest(
    protocol.countTokens,
    handle(({ text }) => {
      const [first] = registry.activeTokenizers();
      if (!first) return null;
      return { count: first.tokenizer.tokenize(text).length, modelName: first.name };
    }),
  );

  /**
   * Word vectors exist to be searched: load their matrix in the background so hovers can show neighbours. A Backpack
   * is built in the background too, so its first sense hover is quick.
   */
  function preloadWordVectors(model: OpenedModel): void {
    // A notification, not a request: nothing waits for the user to dismiss it.
    warmBackpack(backpacks, model, log, (message) => void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Info, message }));
    if (model.format === 'word-vectors') void embeddings.matrix(model, 'input').catch((error) => log(`Preloading ${model.name} failed: ${String(error)}`));
  }

  /**
   * Runs a long job with cancellation from the request, and an editor progress notification (cancellable too) when
   * it takes longer than PROGRESS_AFTER_MS, so quick queries do not flash a progress bar.
   */
  async function longTask<T>(title: string, token: CancellationToken, run: (control: Control) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    const cancelled = token.onCancellationRequested(() => abort.abort());
    let latest: { message: string; fraction?: number } = { message: '' };
    let reporter: Awaited<ReturnType<typeof connection.window.createWorkDoneProgress>> | undefined;
    const timer = setTimeout(async () => {
      reporter = await connection.window.createWorkDoneProgress().catch(() => undefined);
      if (!reporter) return;
      reporter.begin(title, latest.fraction === undefined ? undefined : Math.round(latest.fraction * 100), latest.message, true);
      reporter.token.onCancellationRequested(() => abort.abort());
      if (abort.signal.aborted || finished) reporter.done();
    }, PROGRESS_AFTER_MS);
    let finished = false;
    try {
      return await run({
        signal: abort.signal,
        onProgress: (message, fraction) => {
          latest = { message, fraction };
          reporter?.report(fraction === undefined ? 0 : Math.round(fraction * 100), message);
        },
      });
    } catch (error) {
      if (abort.signal.aborted || (error as Error)?.name === 'AbortError') throw new ModelLensError('cancelled', `${title} was cancelled.`);
      throw error;
    } finally {
      finished = true;
      clearTimeout(timer);
      cancelled.dispose();
      reporter?.done();
    }
  }

  connection.onRequest(
    protocol.neighbours,
    handle(async ({ modelId, query, k, metric, space }, token: CancellationToken) =>
      longTask('Model Lens: neighbours', token, (control) => findNeighbours(embeddings, registry.get(modelId), query, { k, metric, space }, control)),
    ),
  );
  connection.onRequest(
    protocol.analogy,
    handle(async ({ modelId, a, b, c, k, metric, space }, token: CancellationToken) =>
      longTask('Model Lens: analogy', token, (control) => findAnalogy(embeddings, registry.get(modelId), { a, b, c }, { k, metric, space }, control)),
    ),
  );
  connection.onRequest(
    protocol.project,
    handle(async ({ modelId, ...request }, token: CancellationToken) =>
      longTask(`Model Lens: ${request.method.toUpperCase()} projection`, token, (control) => projectEmbeddings(embeddings, registry.get(modelId), request, control)),
    ),
  );
  connection.onRequest(
    protocol.compareModels,
    handle(async ({ leftId, rightId, token: word, k, metric, space, sample }, token: CancellationToken) =>
      longTask('Model Lens: comparing models', token, (control) =>
        compareModels(embeddings, registry.get(leftId), registry.get(rightId), { token: word, k, metric, space, sample }, control),
      ),
    ),
  );

  connection.onRequest(
    protocol.permutationTheory,
    handle(({ k, options }) => permutationTheory(k, options)),
  );
  const probeProgress = (control: Control) => (progress: { phase: string; k: number; models: number; maxModels: number }) =>
    control.onProgress?.(`k = ${progress.k}: ${progress.phase} member ${progress.models} of ${progress.maxModels}`, progress.models / Math.max(1, progress.maxModels));
  connection.onRequest(
    protocol.permutationProbe,
    handle((options, token: CancellationToken) =>
      longTask('Model Lens: permutation probe', token, (control) => runPermutationProbe(options, { signal: control.signal, onProgress: probeProgress(control) })),
    ),
  );
  connection.onRequest(
    protocol.permutationReproduction,
    handle((options, token: CancellationToken) =>
      longTask('Model Lens: reproducing the paper', token, (control) => runPermutationReproduction(options, { signal: control.signal, onProgress: probeProgress(control) })),
    ),
  );
  connection.onRequest(
    protocol.copyProbe,
    handle(async ({ modelId, options }, token: CancellationToken) => {
      const model = await openCausalLanguageModel(registry.get(modelId));
      return longTask('Model Lens: copy probe', token, (control) =>
        runCopyProbe(model, options, { signal: control.signal, onProgress: (progress) => control.onProgress?.('probing', progress.fraction) }),
      );
    }),
  );

  connection.onRequest(
    protocol.transplant,
    handle((options, token: CancellationToken) =>
      longTask('Model Lens: transplanting the tokenizer', token, (control) =>
        runTransplant(options, {
          signal: control.signal,
          registry,
          onProgress: (progress) => {
            control.onProgress?.(progress.message, progress.fraction);
            void connection.sendNotification(protocol.transplantProgress, progress);
          },
        }),
      ),
    ),
  );

  // Backpack sense vectors. Every Backpack feature runs in the Backpack worker thread: onnxruntime-node runs a session
  // on the calling thread, and a backpack-gpt2 forward pass takes about a second.
  const onBackpack = <T>(op: Parameters<BackpackHost['call']>[0], modelId: string, args: Record<string, unknown> = {}, control?: Control) =>
    backpacks.call<T>(op, registry.get(modelId).path, args, control);
  connection.onRequest(
    protocol.predict,
    handle(({ modelId, text, top }) => predictNextToken(registry.get(modelId), text, top)),
  );
  connection.onRequest(
    protocol.senses,
    handle(({ modelId, ...args }) => onBackpack<protocol.WordSenses>('senses', modelId, args)),
  );
  connection.onRequest(
    protocol.explainPrediction,
    handle(({ modelId, ...options }) => onBackpack<protocol.PredictionExplanation>('explain', modelId, { ...options })),
  );
  connection.onRequest(
    protocol.searchSenses,
    handle(({ modelId, ...options }, token: CancellationToken) =>
      longTask(`Model Lens: searching senses for "${options.query}"`, token, (control) => onBackpack<protocol.SenseSearchResult>('search', modelId, { ...options }, control)),
    ),
  );
  connection.onRequest(
    protocol.senseEditState,
    handle(({ modelId }) => onBackpack<protocol.SenseEditState>('editState', modelId)),
  );
  connection.onRequest(
    protocol.editSenses,
    handle(({ modelId, edit }) => onBackpack<protocol.SenseEditState>('edit', modelId, { edit })),
  );
  connection.onRequest(
    protocol.changeSenseEdits,
    handle(({ modelId, action }) => onBackpack<protocol.SenseEditState>('change', modelId, { action })),
  );
  connection.onRequest(
    protocol.finetuneSenses,
    handle(({ modelId, files, options }, token: CancellationToken) =>
      longTask('Model Lens: finetuning senses', token, (control) => onBackpack<protocol.SenseFinetuneReport>('finetune', modelId, { files, options }, control)),
    ),
  );
  connection.onRequest(
    protocol.exportBackpack,
    handle(({ modelId, outDir }, token: CancellationToken) =>
      longTask('Model Lens: exporting the edited Backpack', token, (control) => onBackpack<protocol.ExportResult>('export', modelId, { outDir }, control)),
    ),
  );

  connection.onShutdown(() => Promise.all([embeddings.close(), backpacks.close()]).then(() => undefined));

  connection.onHover(async (params) => {
    const document = documents.get(params.textDocument.uri);
    if (!document) return null;
    try {
      const request = {
        text: document.getText(),
        languageId: document.languageId,
        uri: document.uri,
        offset: document.offsetAt(params.position),
      };
      const answer = computeHover(request, registry.activeTokenizers(), settings);
      if (!answer) return null;
      const activeModels = registry.activeTokenizers().map((named) => registry.get(named.modelId));
      const [neighbours, provenance, senses] = await Promise.all([
        neighbourSection(embeddings, registry.list(), request).catch(() => undefined),
        provenanceSection(activeModels, request).catch(() => undefined),
        senseSection(backpacks, activeModels, request).catch(() => undefined),
      ]);
      const sections = [answer.markdown, provenance, senses, neighbours].filter((section): section is string => Boolean(section));
      return {
        contents: { kind: 'markdown', value: sections.join('\n\n---\n\n') },
        range: { start: document.positionAt(answer.start), end: document.positionAt(answer.end) },
      };
    } catch (error) {
      log(`Hover failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return null;
    }
  });

  documents.listen(connection);
  connection.listen();
}

function noTokenizer(): ModelLensError {
  return new ModelLensError('usage', 'No tokenizer is open.', undefined, 'Run "Model Lens: Open Model…" first.');
}

function firstActiveModel(registry: ModelRegistry) {
  const [first] = registry.activeTokenizers();
  if (!first) throw noTokenizer();
  return registry.get(first.modelId);
}

// Started as a program (not imported by tests): talk over the transport the client chose (--node-ipc / --stdio).
if (require.main === module) {
  const connection = createConnection(ProposedFeatures.all);
  process.on('uncaughtException', (error) => connection.console.error(`Uncaught: ${error.stack ?? error}`));
  process.on('unhandledRejection', (error) => connection.console.error(`Unhandled rejection: ${String(error)}`));
  startServer(connection);
}
