import { createRequire } from 'node:module';
import type { WriteStream } from 'node:tty';
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** https://no-color.org: present and not empty disables colour. */
const noColor = (): boolean => (process.env.NO_COLOR ?? '') !== '';

/** Colour only on a terminal, and never with NO_COLOR. */
export function colourOn(stream: NodeJS.WriteStream | WriteStream): boolean {
  return stream.isTTY === true && !noColor();
}

function paint(stream: NodeJS.WriteStream, style: Style, text: string): string {
  return colourOn(stream) ? styleText(style, text) : text;
}

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'value'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

let format: OutputFormat = 'table';

/**
 * `--output json|yaml` (`--json` is `--output json`): stdout carries the result alone, as a
 * document; words for people go to stderr. Tables and sentences are the default.
 */
export function setOutputFormat(chosen: OutputFormat): void {
  format = chosen;
}

export const outputFormat = (): OutputFormat => format;

/** True when the result is a document (JSON or YAML) rather than tables and sentences. */
export const jsonMode = (): boolean => format === 'json' || format === 'yaml';

/**
 * `--output value`, as `openstack -f value`: a table's rows without the header, cells apart by
 * one space, and a record's values one per line, for `read` and `cut` in scripts. Sentences for
 * people go to stderr, as with a document.
 */
const valueMode = (): boolean => format === 'value';

/** Loaded when YAML is asked for only: other commands never pay for the library. */
function yaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

const textStream = (): NodeJS.WriteStream => (jsonMode() || valueMode() ? process.stderr : process.stdout);

export const out = {
  line(text = ''): void {
    textStream().write(`${text}\n`);
  },
  success(text: string): void {
    textStream().write(`${paint(textStream(), 'green', text)}\n`);
  },
  bold(text: string): string {
    return paint(process.stdout, 'bold', text);
  },
  dim(text: string): string {
    return paint(process.stdout, 'dim', text);
  },
  /** The result as a document in the format asked for (JSON unless --output yaml). */
  json(value: unknown): void {
    if (format === 'yaml') process.stdout.write(yaml().stringify(value));
    else process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  },
  /** One document per record, for streams (`events --json`): a JSON line, or a YAML document. */
  jsonLine(value: unknown): void {
    if (format === 'yaml') process.stdout.write(`---\n${yaml().stringify(value)}`);
    else process.stdout.write(`${JSON.stringify(value)}\n`);
  },
  /** The command's result proper, on stdout whatever the mode (a token, shell commands). */
  result(text: string): void {
    process.stdout.write(`${text}\n`);
  },
  /** Notes and hints go to stderr, so stdout stays the command's result. */
  note(text: string): void {
    process.stderr.write(`${paint(process.stderr, 'yellow', text)}\n`);
  },
};

export function errorLine(message: string): string {
  return `${paint(process.stderr, 'red', 'latchkey:')} ${message}\n`;
}

/** Aligned columns with a header row; the header is bold on a terminal. */
export function table(headers: string[], rows: string[][]): void {
  if (valueMode()) {
    for (const row of rows) process.stdout.write(`${row.join(' ')}\n`);
    return;
  }
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const format = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  out.line(out.bold(format(headers)));
  for (const row of rows) out.line(format(row));
}

/** `label   value` pairs, labels aligned. */
export function fields(pairs: [string, string][]): void {
  if (valueMode()) {
    for (const [, value] of pairs) process.stdout.write(`${value}\n`);
    return;
  }
  const width = Math.max(...pairs.map(([label]) => label.length));
  for (const [label, value] of pairs) out.line(`${out.dim(label.padEnd(width))}  ${value}`);
}
