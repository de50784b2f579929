/**
 * `model-lens`: the server's features from a shell. Every command calls the same feature functions as the language
 * server and has `--json`. Exit codes: 0 success; 2 bad input or usage (one line `error: …` on stderr); 1 a bug.
 */
import { isModelLensError } from '../errors';
import { parseArgs, usage } from './args';
import { COMMANDS } from './commands';

function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const rows = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  const usages = Object.values(COMMANDS).map((command) => `  ${command.usage}`);
  return ['Usage: model-lens <command> [options]', '', 'Commands:', ...rows, '', ...usages].join('\n');
}

export async function main(argv: string[], out = (text: string) => process.stdout.write(`${text}\n`)): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(helpText());
    return name ? 0 : 2;
  }
  try {
    const command = COMMANDS[name];
    if (!command) throw usage(`unknown command "${name}"`);
    if (rest.includes('--help')) {
      out(command.usage);
      return 0;
    }
    await command.run(parseArgs(rest, command.options), out);
    return 0;
  } catch (error) {
    if (isModelLensError(error)) {
      process.stderr.write(`error: ${error.toUserMessage().replace(/\s*\n\s*/g, ' ')}\n`);
      return 2;
    }
    process.stderr.write(`model-lens: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
