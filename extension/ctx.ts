/**
 * Owns the language client's lifecycle: start, restart after a crash (reopening what was open, with one message),
 * and the typed requests every command uses. Nothing heavy is imported here; the server does the work.
 */
import * as vscode from 'vscode';
import type {
  ErrorHandler,
  LanguageClient,
  LanguageClientOptions,
  RequestType,
  ServerOptions,
} from 'vscode-languageclient/node';
import * as protocol from '../server/protocol';
import { serverSettings, startupModels } from './config';

/** Crashes tolerated within `CRASH_WINDOW_MS` before we stop restarting (the client's own default is 4 in 3 min). */
const MAX_RESTARTS = 4;
const CRASH_WINDOW_MS = 3 * 60_000;

export class ModelLensContext implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Model Lens');
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient> | undefined;
  private models: protocol.ModelSummary[] = [];
  private readonly crashTimes: number[] = [];
  private readonly modelsEmitter = new vscode.EventEmitter<protocol.ModelSummary[]>();
  /** Fires whenever the server reports a change in the open models or active tokenizers. */
  readonly onModelsChanged = this.modelsEmitter.event;
  private readonly transplantEmitter = new vscode.EventEmitter<protocol.TransplantProgress>();
  /** Progress of a running transplant, for the report panel. */
  readonly onTransplantProgress = this.transplantEmitter.event;
  private readonly stateEmitter = new vscode.EventEmitter<'starting' | 'running' | 'stopped'>();
  readonly onServerState = this.stateEmitter.event;

  /** Asked before a model is closed (or the server restarted): any false keeps it open. */
  private readonly closeGuards = new Set<(modelId: string) => Promise<boolean>>();

  constructor(private readonly extension: vscode.ExtensionContext) {}

  /** Registers a question to ask before a model closes, e.g. about unsaved sense edits. */
  onWillCloseModel(guard: (modelId: string) => Promise<boolean>): vscode.Disposable {
    this.closeGuards.add(guard);
    return new vscode.Disposable(() => this.closeGuards.delete(guard));
  }

  /** True when every guard agrees that `modelId` may close now. */
  async mayCloseModel(modelId: string): Promise<boolean> {
    for (const guard of this.closeGuards) if (!(await guard(modelId))) return false;
    return true;
  }

  get openModels(): readonly protocol.ModelSummary[] {
    return this.models;
  }

  /** Starts the server once; later callers share the same start. */
  ensureClient(): Promise<LanguageClient> {
    this.starting ??= this.start();
    return this.starting;
  }

  private async start(): Promise<LanguageClient> {
    // Loaded here, not at the top: activation stays cheap and the client library is read when the server starts.
    const { LanguageClient, State, TransportKind } = await import('vscode-languageclient/node');
    const module = this.extension.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const initialSettings = await serverSettings();
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
      outputChannel: this.output,
      // A function, so a restarted server reopens what was open at the moment it crashed.
      // Command links in hovers (e.g. "Show neighbourhood") run only these commands; <sub> ids need HTML.
      markdown: { isTrusted: { enabledCommands: ['modelLens.showNeighbourhood', 'modelLens.showSenses'] }, supportHtml: true },
      initializationOptions: () => ({
        settings: initialSettings,
        storagePath: (this.extension.storageUri ?? this.extension.globalStorageUri).fsPath,
        models: this.models.length > 0 ? this.models.map((model) => model.path) : startupModels(),
      }),
      errorHandler: await this.errorHandler(),
    };
    const client = new LanguageClient('modelLens', 'Model Lens', serverOptions, clientOptions);
    client.onDidChangeState((event) => {
      if (event.newState === State.Running) this.stateEmitter.fire('running');
      else if (event.newState === State.Starting) this.stateEmitter.fire('starting');
      else this.stateEmitter.fire('stopped');
    });
    this.stateEmitter.fire('starting');
    await client.start();
    client.onNotification(protocol.transplantProgress, (progress) => this.transplantEmitter.fire(progress));
    client.onNotification(protocol.modelsChanged, (models) => {
      this.models = models;
      this.modelsEmitter.fire(models);
    });
    this.client = client;
    // Settings may have changed while the server was starting.
    void client.sendNotification(protocol.updateSettings, await serverSettings());
    return client;
  }

  /** Restart on a crash with a single message; give up (with one message) after too many crashes. */
  private async errorHandler(): Promise<ErrorHandler> {
    const { CloseAction, ErrorAction } = await import('vscode-languageclient/node');
    return {
      error: () => ({ action: ErrorAction.Continue, handled: true }),
      closed: () => {
        const now = Date.now();
        this.crashTimes.push(now);
        while (this.crashTimes.length > 0 && now - this.crashTimes[0] > CRASH_WINDOW_MS) this.crashTimes.shift();
        if (this.crashTimes.length > MAX_RESTARTS) {
          void vscode.window.showErrorMessage(
            'The Model Lens server stopped repeatedly and will not be restarted. Run "Model Lens: Restart Server" to try again, or "Model Lens: Show Log" to see why.',
          );
          return { action: CloseAction.DoNotRestart, handled: true };
        }
        if (this.crashTimes.length === 1) {
          const reopened = this.models.length;
          void vscode.window.showWarningMessage(
            `The Model Lens server stopped unexpectedly and was restarted${reopened ? `; reopening ${reopened} model${reopened === 1 ? '' : 's'}` : ''}.`,
          );
        }
        return { action: CloseAction.Restart, handled: true };
      },
    };
  }

  async restart(): Promise<void> {
    this.crashTimes.length = 0;
    if (!this.client) {
      await this.ensureClient();
      return;
    }
    await this.client.restart();
  }

  async pushSettings(): Promise<void> {
    if (!this.client) return;
    await this.client.sendNotification(protocol.updateSettings, await serverSettings());
  }

  /**
   * Sends a typed request. A ModelLensError from the server is shown once as a notification and resolves to
   * undefined; anything else is shown as an internal error and logged.
   */
  async request<P, R>(type: RequestType<P, R, void>, params: P): Promise<R | undefined> {
    const client = await this.ensureClient();
    try {
      return await client.sendRequest(type, params);
    } catch (error) {
      this.showError(error);
      return undefined;
    }
  }

  /** The open models once the server has opened its start-up models (pickers call this before listing). */
  async settledModels(): Promise<readonly protocol.ModelSummary[]> {
    const client = await this.ensureClient();
    try {
      this.models = await client.sendRequest(protocol.listModels);
    } catch (error) {
      this.output.appendLine(`listing models failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    return this.models;
  }

  /** Like `request`, with a cancellation token: a cancelled request resolves to undefined without a message. */
  async requestCancellable<P, R>(type: RequestType<P, R, void>, params: P, token: vscode.CancellationToken): Promise<R | undefined> {
    const client = await this.ensureClient();
    try {
      return await client.sendRequest(type, params, token);
    } catch (error) {
      if (token.isCancellationRequested) return undefined;
      this.showError(error);
      return undefined;
    }
  }

  /** Like `request`, but failures are only logged: for background work such as the status bar count. */
  async requestQuietly<P, R>(type: RequestType<P, R, void>, params: P): Promise<R | undefined> {
    if (!this.client || !this.client.isRunning()) return undefined;
    try {
      return await this.client.sendRequest(type, params);
    } catch (error) {
      this.output.appendLine(`${type.method} failed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  showError(error: unknown): void {
    // A ResponseError carrying UserErrorData (checked by shape, so the client library need not be loaded here).
    if ((error as { data?: protocol.UserErrorData } | undefined)?.data?.modelLensError) {
      void vscode.window.showErrorMessage((error as Error).message);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    this.output.appendLine(`Error: ${message}`);
    void vscode.window.showErrorMessage(`Model Lens: ${message}`, 'Show Log').then((choice) => {
      if (choice) this.output.show();
    });
  }

  dispose(): void {
    void this.client?.stop();
    this.modelsEmitter.dispose();
    this.stateEmitter.dispose();
    this.output.dispose();
  }
}
