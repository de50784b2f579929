/**
 * A small, strict argument parser: `--name value`, `--name=value`, boolean flags, positionals. Unknown options are
 * usage errors (exit 2), never silently ignored.
 */
import { ModelLensError } from '../errors';

export interface OptionSpec {
  /** Flags take no value. */
  flag?: boolean;
}

export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

export function parseArgs(argv: string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const option = spec[name];
    if (!option) throw usage(`unknown option --${name}`);
    if (option.flag) {
      if (inline !== undefined) throw usage(`--${name} takes no value`);
      options.set(name, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw usage(`--${name} needs a value`);
    options.set(name, value);
  }
  return { positionals, options };
}

export function usage(message: string): ModelLensError {
  return new ModelLensError('usage', message, undefined, 'Run "model-lens --help" for usage.');
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}
