#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError, ExitCode, oneLine } from './failure.js';
import { errorLine } from './output.js';
import { buildProgram } from './program.js';
import { supportedNode } from './supported-node.js';

/** Every failure ends as one line on stderr and the exit code of its kind. */
function exitWith(error: unknown): never {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (help, version, or a usage error).
    const done = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code);
    process.exit(done && error.exitCode === 0 ? ExitCode.ok : ExitCode.usage);
  }
  if (error instanceof CliError) {
    process.stderr.write(errorLine(oneLine(error.message)));
    process.exit(error.exitCode);
  }
  // Errors of the server operations: configuration (named variable) and store refusals.
  if (error instanceof Error && error.name === 'ConfigError') {
    process.stderr.write(errorLine(`configuration error: ${oneLine(error.message)}`));
    process.exit(ExitCode.usage);
  }
  // A second server on an embedded database another one serves: the message names its pid.
  if (error instanceof Error && error.name === 'DataDirectoryInUse') {
    process.stderr.write(errorLine(oneLine(error.message)));
    process.exit(ExitCode.usage);
  }
  // Start-up failures outside latchkey (a port taken, a database missing or unreachable).
  if (error instanceof Error && error.name === 'StartupError') {
    process.stderr.write(errorLine(oneLine(error.message)));
    process.exit(ExitCode.refused);
  }
  if (error instanceof Error && error.name === 'ApiError') {
    process.stderr.write(errorLine(oneLine(error.message)));
    process.exit(ExitCode.refused);
  }
  process.stderr.write(errorLine(error instanceof Error ? (error.stack ?? error.message) : String(error)));
  process.exit(ExitCode.refused);
}

if (!supportedNode(process.versions.node)) {
  process.stderr.write(
    errorLine(
      `Node.js ${process.versions.node} is past its end of life: run latchkey on Node.js 24 LTS (or 22.22 or later, or 26 or later)`,
    ),
  );
  process.exit(ExitCode.usage);
}

buildProgram().parseAsync(process.argv).catch(exitWith);
