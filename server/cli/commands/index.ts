/**
 * Every `model-lens` command, by name. A new command is one file in this folder, added here.
 */
import type { Command } from '../command';
import { predictCommand, senseFinetuneCommand, sensesCommand } from './backpack';
import { inspectCommand } from './inspect';
import { probeCommand } from './probe';
import { tokenizeCommand } from './tokenize';
import { transplantCommand } from './transplant';
import { analogyCommand, neighboursCommand, projectCommand } from './neighbours';

export const COMMANDS: Record<string, Command> = {
  inspect: inspectCommand,
  probe: probeCommand,
  tokenize: tokenizeCommand,
  transplant: transplantCommand,
  neighbours: neighboursCommand,
  analogy: analogyCommand,
  project: projectCommand,
  predict: predictCommand,
  senses: sensesCommand,
  'sense-finetune': senseFinetuneCommand,
};
