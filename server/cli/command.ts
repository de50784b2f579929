/**
 * What a CLI command is. Each command is one file in `commands/`, listed in `commands/index.ts`; it calls the same
 * feature functions as the language server.
 */
import { usage, type OptionSpec, type ParsedArgs } from './args';

export interface Command {
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  run(args: ParsedArgs, out: (text: string) => void): Promise<void>;
}

export const json = (value: unknown) => JSON.stringify(value, null, 2);

export function onePath(args: ParsedArgs, command: string): string {
  if (args.positionals.length !== 1) throw usage(`${command} needs exactly one <path>`);
  return args.positionals[0];
}
