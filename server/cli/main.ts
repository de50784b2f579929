/**
 * `model-lens`: the server's features from a shell. Every command calls the same feature functions as the language
 * server and has `--json`. Exit codes: 0 success; 2 bad input or usage (one line `error: …` on stderr); 1 a bug.
 */
import * as fs from 'node:fs/promises';
import { isModelLensError } from '../errors';
import { ModelRegistry } from '../registry/registry';
import { describeModel } from '../features/summarise';
import { tokenizeWithModel } from '../features/tokenize';
import { showPiece } from '../tokenization/display';
import { flag, parseArgs, stringOption, usage, type OptionSpec, type ParsedArgs } from './args';

interface Command {
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  run(args: ParsedArgs, out: (text: string) => void): Promise<void>;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

function onePath(args: ParsedArgs, command: string): string {
  if (args.positionals.length !== 1) throw usage(`${command} needs exactly one <path>`);
  return args.positionals[0];
}

const COMMANDS: Record<string, Command> = {
  inspect: {
    summary: 'format, tokenizer facts, vocabulary size and embedding tensors of a model or tokenizer',
    usage: 'model-lens inspect <path> [--json]',
    options: { json: { flag: true } },
    async run(args, out) {
      const model = await new ModelRegistry().open(onePath(args, 'inspect'));
      const details = describeModel(model, true);
      const report = {
        path: details.path,
        format: details.format,
        files: details.files,
        tokenizer: details.tokenizer ?? null,
        vocabSize: details.tokenizer?.vocabSize ?? null,
        embeddings: details.embeddings,
        tensors: details.tensors,
      };
      if (flag(args, 'json')) return out(json(report));
      const lines = [`${details.name} (${details.format})`, `  path: ${details.path}`];
      if (details.tokenizer) {
        const t = details.tokenizer;
        lines.push(`  tokenizer: ${t.type}, ${t.style}, vocabulary ${t.vocabSize}, ${t.specialTokens.length} special tokens`);
      }
      const describe = (label: string, tensor?: { name: string; shape: number[]; dtype: string }) =>
        tensor && lines.push(`  ${label}: ${tensor.name} [${tensor.shape.join(', ')}] ${tensor.dtype}`);
      describe('input embedding', details.embeddings.input);
      describe('output head', details.embeddings.output);
      if (details.embeddings.tied) lines.push('  output head: tied to the input embedding');
      lines.push(`  tensors: ${details.tensors.length}`);
      out(lines.join('\n'));
    },
  },
  tokenize: {
    summary: 'tokens of a text, with ids and UTF-16 offsets',
    usage: 'model-lens tokenize <path> (--text T | --file F) [--add-special] [--json]',
    options: { text: {}, file: {}, 'add-special': { flag: true }, json: { flag: true } },
    async run(args, out) {
      const modelPath = onePath(args, 'tokenize');
      const textOption = stringOption(args, 'text');
      const fileOption = stringOption(args, 'file');
      if ((textOption === undefined) === (fileOption === undefined)) throw usage('give exactly one of --text or --file');
      const text = textOption ?? (await readTextFile(fileOption!));
      const model = await new ModelRegistry().open(modelPath);
      const result = tokenizeWithModel(model, text, flag(args, 'add-special'));
      if (flag(args, 'json')) return out(json({ count: result.count, tokens: result.tokens }));
      const pieces = result.tokens.map((token) => `${showPiece(token.text)}:${token.id}${token.special ? '*' : ''}`);
      out(`${result.count} tokens\n${pieces.join(' ')}`);
    },
  },
};

async function readTextFile(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw usage(`cannot read --file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

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
