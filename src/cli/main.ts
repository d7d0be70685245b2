/**
 * The `diffusion` command: parses argv with commander, dispatches to subcommands, and turns errors into
 * one-line messages. Exit codes: 0 success, 1 a DiffusionError (user mistake or refused input),
 * 2 a usage error (unknown command or flag), 70 an internal bug (printed with its stack).
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { isDiffusionError } from '../util/errors.js';
import { commandRegistrations } from './commands/index.js';

function packageVersion(): string {
  const raw = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(raw) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('diffusion')
    .description('Train, sample, edit and evaluate diffusion models (diffusion-ts).')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--debug', 'print stack traces of errors')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeErr: (text) => process.stderr.write(text),
      outputError: (text, write) => write(text.trim().replace(/^error: /, 'error: ') + '\n'),
    });
  for (const register of commandRegistrations) register(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the CLI on `argv` (as in process.argv) and sets process.exitCode. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    process.exitCode = reportError(program, error, debug);
  }
}

function reportError(program: Command, error: unknown, debug: boolean): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return 0; // --help, --version
    // commander already printed the one-line message; add the usage line, exit 2.
    process.stderr.write(`usage: ${program.name()} ${program.usage()}\n`);
    process.stderr.write(`run '${program.name()} --help' for the list of commands and options\n`);
    return 2;
  }
  if (isDiffusionError(error)) {
    process.stderr.write(`error: ${error.message}\n`);
    if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
    return error.code === 'usage' ? 2 : 1;
  }
  process.stderr.write(
    `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.stderr.write('this is a bug in diffusion-ts; please report it with the command you ran\n');
  return 70;
}
