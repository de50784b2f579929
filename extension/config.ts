/**
 * The user's settings, read in one place. Paths in settings may use ${workspaceFolder} or be relative to the first
 * workspace folder.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ServerSettings } from '../server/protocol';

const SECTION = 'modelLens';

export function resolveSettingPath(value: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '';
  const expanded = value.replace(/\$\{workspaceFolder\}/g, folder);
  return path.isAbsolute(expanded) ? expanded : path.resolve(folder, expanded);
}

export function startupModels(): string[] {
  return vscode.workspace.getConfiguration(SECTION).get<string[]>('startupModels', []).map(resolveSettingPath);
}

export function activeTokenizerSetting(): string[] {
  return vscode.workspace.getConfiguration(SECTION).get<string[]>('activeTokenizers', []).map(resolveSettingPath);
}

export async function setActiveTokenizerSetting(ids: string[]): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const target = vscode.workspace.workspaceFolders ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update('activeTokenizers', ids, target);
}

/** Languages whose `modelLens.hover.enabled` is false, for the server (which cannot read language overrides). */
export async function hoverDisabledLanguages(): Promise<string[]> {
  const languages = await vscode.languages.getLanguages();
  return languages.filter(
    (languageId) => !vscode.workspace.getConfiguration(SECTION, { languageId }).get<boolean>('hover.enabled', true),
  );
}

export async function serverSettings(): Promise<ServerSettings> {
  return {
    activeTokenizers: activeTokenizerSetting(),
    hoverDisabledLanguages: await hoverDisabledLanguages(),
    hoverMaxTokens: vscode.workspace.getConfiguration(SECTION).get<number>('hover.maxTokens', 48),
    embeddingStorage: vscode.workspace.getConfiguration(SECTION).get<'f32' | 'f16'>('embeddings.storage', 'f32'),
  };
}
