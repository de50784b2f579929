/**
 * Every `model-lens` command, by name. A new command is one file in this folder, added here.
 */
import type { Command } from '../command';
import { inspectCommand } from './inspect';
import { tokenizeCommand } from './tokenize';

export const COMMANDS: Record<string, Command> = {
  inspect: inspectCommand,
  tokenize: tokenizeCommand,
};
