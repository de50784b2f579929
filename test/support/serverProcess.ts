/**
 * Starts the built server (dist/server.js) as the extension does, over Node IPC, and speaks JSON-RPC to it with
 * the shared protocol. Used by the integration tests and the benchmarks.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  DidOpenTextDocumentNotification,
  ExitNotification,
  HoverRequest,
  InitializedNotification,
  InitializeRequest,
  IPCMessageReader,
  IPCMessageWriter,
  ShutdownRequest,
  type Hover,
  type ProtocolConnection,
} from 'vscode-languageserver-protocol/node';
import * as protocol from '../../server/protocol';

export const REPO_ROOT = path.resolve(__dirname, '../..');
export const SERVER_MODULE = path.join(REPO_ROOT, 'dist/server.js');

export interface ServerHandle {
  connection: ProtocolConnection;
  child: ChildProcess;
  /** Everything the server logged (window/logMessage), for assertions and failure messages. */
  logs: string[];
  /** The latest modelsChanged notification. */
  models: () => protocol.ModelSummary[];
  openDocument(uri: string, languageId: string, text: string): void;
  hover(uri: string, line: number, character: number): Promise<Hover | null>;
  stop(): Promise<void>;
}

export async function startServer(initializationOptions: object = {}): Promise<ServerHandle> {
  const child = fork(SERVER_MODULE, ['--node-ipc'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const connection = createProtocolConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
  const logs: string[] = [];
  let models: protocol.ModelSummary[] = [];
  connection.onNotification('window/logMessage', (params: { message: string }) => logs.push(params.message));
  connection.onNotification('window/showMessage', (params: { message: string }) => logs.push(`[shown] ${params.message}`));
  connection.onNotification(protocol.modelsChanged, (next) => (models = next));
  connection.listen();

  await connection.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    capabilities: {},
    initializationOptions,
  });
  await connection.sendNotification(InitializedNotification.type, {});

  let version = 0;
  return {
    connection,
    child,
    logs,
    models: () => models,
    openDocument(uri, languageId, text) {
      void connection.sendNotification(DidOpenTextDocumentNotification.type, {
        textDocument: { uri, languageId, version: ++version, text },
      });
    },
    hover(uri, line, character) {
      return connection.sendRequest(HoverRequest.type, { textDocument: { uri }, position: { line, character } });
    },
    async stop() {
      if (child.exitCode === null) {
        await Promise.race([connection.sendRequest(ShutdownRequest.type), new Promise((resolve) => setTimeout(resolve, 2000))]);
        void connection.sendNotification(ExitNotification.type);
        await new Promise((resolve) => setTimeout(resolve, 100));
        child.kill();
      }
      connection.dispose();
    },
  };
}

export const fileUri = (file: string) => pathToFileURL(file).toString();
