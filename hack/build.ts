/**
 * `npm run build`: type-checks, then bundles extension/main.ts and everything it imports into one
 * file with its source map (dist/capi-vip-allocator.js). Bundling drops the parts of
 * @kubernetes/client-node we never call, which is most of the process's idle memory; the image
 * then carries no node_modules at all.
 */
import { build } from 'esbuild';
import { execa } from 'execa';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLE, ROOT } from './control-plane/paths.js';

const started = Date.now();
process.stderr.write('Type-checking (tsc -p tsconfig.build.json)\n');
await execa('npx', ['tsc', '-p', 'tsconfig.build.json', '--noEmit'], { cwd: ROOT, stdio: 'inherit' });
await rm(path.dirname(BUNDLE), { recursive: true, force: true });
process.stderr.write(`Bundling extension/main.ts into ${path.relative(ROOT, BUNDLE)}\n`);
await build({
  entryPoints: [path.join(ROOT, 'extension/main.ts')],
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: true,
  // Mappings only: stack traces need no source text, and Node holds the whole map in memory.
  sourcesContent: false,
  // Whitespace and syntax only: identifiers keep their names in CPU profiles; the source map
  // (node --enable-source-maps) points stack traces at our TypeScript.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'linked',
  // CommonJS dependencies (express, winston) call require(): give the ESM bundle one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await ourMappingsOnly(`${BUNDLE}.map`);
const bytes = (await stat(BUNDLE)).size + (await stat(`${BUNDLE}.map`)).size;
process.stderr.write(
  `Built ${path.relative(ROOT, BUNDLE)} (${(bytes / 1e6).toFixed(1)} MB with its map) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);

/**
 * Keeps the source map's segments that point into our own sources. Node parses the whole map at
 * start (node --enable-source-maps), and the dependencies' mappings are most of it; their frames
 * then show bundle positions, ours our TypeScript.
 */
async function ourMappingsOnly(file: string): Promise<void> {
  const map = JSON.parse(await readFile(file, 'utf8')) as { sources: string[]; mappings: string };
  const ours = map.sources.map((s) => !s.includes('node_modules/'));
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const decode = (segment: string): number[] => {
    const values: number[] = [];
    let value = 0;
    let shift = 0;
    for (const ch of segment) {
      const digit = B64.indexOf(ch);
      value += (digit & 31) << shift;
      if (digit & 32) shift += 5;
      else {
        values.push(value & 1 ? -(value >>> 1) : value >>> 1);
        value = shift = 0;
      }
    }
    return values;
  };
  const encode = (values: number[]): string =>
    values
      .map((v) => {
        let vlq = v < 0 ? (-v << 1) | 1 : v << 1;
        let out = '';
        do {
          let digit = vlq & 31;
          vlq >>>= 5;
          if (vlq > 0) digit |= 32;
          out += B64[digit];
        } while (vlq > 0);
        return out;
      })
      .join('');
  // Absolute positions while reading; deltas against the last kept segment while writing.
  const read = [0, 0, 0, 0];
  const wrote = [0, 0, 0, 0];
  map.mappings = map.mappings
    .split(';')
    .map((line) => {
      read[0] = 0;
      wrote[0] = 0;
      const kept: string[] = [];
      for (const segment of line ? line.split(',') : []) {
        const d = decode(segment);
        const abs = d.map((v, i) => (i < 4 ? (read[i] = (read[i] ?? 0) + v) : v));
        if (abs.length < 4 || !ours[abs[1] ?? 0]) continue;
        kept.push(encode(abs.slice(0, 4).map((v, i) => v - (wrote[i] ?? 0))));
        abs.slice(0, 4).forEach((v, i) => (wrote[i] = v));
      }
      return kept.join(',');
    })
    .join(';');
  await writeFile(file, JSON.stringify(map));
}
