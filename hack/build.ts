/**
 * `npm run build`: type-checks, then bundles extension/main.ts and everything it imports into one
 * file with its source map (dist/capi-vip-allocator.js). Bundling drops the parts of
 * @kubernetes/client-node we never call, which is most of the process's idle memory; the image
 * then carries no node_modules at all.
 */
import { build } from 'esbuild';
import { execa } from 'execa';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BUNDLE, ROOT } from './control-plane/paths.js';

const started = Date.now();
process.stderr.write('Type-checking (tsc -p tsconfig.build.json)\n');
await execa('npx', ['tsc', '-p', 'tsconfig.build.json', '--noEmit'], { cwd: ROOT, stdio: 'inherit' });
await rm(path.dirname(BUNDLE), { recursive: true, force: true });
process.stderr.write(`Bundling extension/main.ts into ${path.relative(ROOT, BUNDLE)}\n`);
const result = await build({
  entryPoints: [path.join(ROOT, 'extension/main.ts')],
  outfile: BUNDLE,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: true,
  // Whitespace and syntax only: identifiers keep their names in CPU profiles; the source map
  // (node --enable-source-maps) points stack traces at our TypeScript.
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  legalComments: 'linked',
  // CommonJS dependencies (express, winston) call require(): give the ESM bundle one.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stderr.write(
  `Built ${path.relative(ROOT, BUNDLE)} (${(bytes / 1e6).toFixed(1)} MB with its map) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);
