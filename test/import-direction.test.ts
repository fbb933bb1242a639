import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

/**
 * Imports in src/ point one way: down this list. A folder may import its own files and the
 * folders of the layers below its own, never a folder of its own layer or one above. The list is
 * the README's Layout section; a new folder has to be placed in it before it can be imported.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['core'], // clock, errors, vocabulary: imports nothing of ours
  ['config', 'store'],
  ['crypto', 'events', 'notify'],
  ['services'], // Deps: the services every domain function is handed
  ['access'], // tokens, the caller, roles, the validation cache
  ['identity', 'lockout', 'policy', 'reports'],
  ['factors'],
  ['auth'], // the login pipeline
  ['http'], // what the API versions share
  ['http/v2', 'http/v3', 'panel'],
  ['server'],
  ['cli'],
];

/**
 * Arrows back up that are kept, each with its reason. At most three: a fourth means a module is
 * in the wrong folder.
 */
const ALLOWED_UPWARD: ReadonlyMap<string, string> = new Map([
  [
    'http/openapi.ts -> http/v2/wire.ts',
    "the document's security scheme names the token header, which lives with the wire types the CLI may read",
  ],
]);

const SRC = path.resolve('src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'assets' ? [] : sourceFiles(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/** Every relative import of a file (static, type-only, re-export and dynamic), resolved to a file. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const targets: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), fileName).replace(/\.js$/, '');
    const found = [`${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')].find((candidate) =>
      existsSync(candidate),
    );
    assert.ok(
      found,
      `${path.relative(SRC, file)} imports ${fileName}, which does not resolve to a source file`,
    );
    targets.push(found);
  }
  return targets;
}

function folderOf(file: string): string {
  const parts = path.relative(SRC, path.dirname(file)).split(path.sep);
  if (parts[0] === 'http' && (parts[1] === 'v2' || parts[1] === 'v3')) return `http/${parts[1]}`;
  return parts[0] ?? '';
}

const layerOf = new Map(
  LAYERS.flatMap((folders, index) => folders.map((folder) => [folder, index] as const)),
);
const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const rel = (file: string): string => path.relative(SRC, file);

/** Strongly connected components of more than one file (Tarjan). */
function importCircles(): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter);
    counter++;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(rel(member));
      } while (member !== file);
      if (component.length > 1) circles.push(component.sort());
    }
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return circles;
}

describe('import direction in src/', () => {
  it('every folder has a place in the layers', () => {
    const unplaced = [...new Set(files.map(folderOf))].filter((folder) => !layerOf.has(folder));
    assert.deepEqual(unplaced, [], 'a folder outside LAYERS (no loose files at the root of src/ either)');
  });

  it('no file imports, even for types only, from its own layer or one above, beyond the kept exceptions', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (from === to) continue;
        const fromLayer = layerOf.get(from) ?? -1;
        const toLayer = layerOf.get(to) ?? Number.POSITIVE_INFINITY;
        const arrow = `${rel(file)} -> ${rel(target)}`;
        if (toLayer >= fromLayer && !ALLOWED_UPWARD.has(arrow))
          upward.push(`${arrow} (${from} imports ${to})`);
      }
    }
    assert.deepEqual(upward, []);
    assert.ok(ALLOWED_UPWARD.size <= 3, 'at most three arrows back up');
  });

  it('the kept exceptions still exist (a fixed one leaves the list)', () => {
    const arrows = new Set(
      [...graph].flatMap(([file, targets]) => targets.map((target) => `${rel(file)} -> ${rel(target)}`)),
    );
    for (const arrow of ALLOWED_UPWARD.keys())
      assert.ok(arrows.has(arrow), `${arrow} is gone: remove it from the list`);
  });

  it('no import circle, type-only imports included', () => {
    assert.deepEqual(importCircles(), []);
  });

  it('the README names every folder of src/', () => {
    const readme = readFileSync('README.md', 'utf8');
    const layout = readme.slice(readme.indexOf('## Layout'));
    const missing = [...layerOf.keys()].filter((folder) => !layout.includes(`\`${folder}/\``));
    assert.deepEqual(missing, []);
  });
});
