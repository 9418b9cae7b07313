import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { capiRelease, PINS, type CapiRelease, type GoModulePin } from '../versions.js';
import { CACHE_DIR, ROOT, type Log } from './paths.js';

/**
 * The Go module proxy reachable here has no checksum-database entries for several pinned
 * versions, so sumdb verification is off; GOTOOLCHAIN=local keeps Go from fetching a toolchain.
 */
const GO_ENV = {
  GOSUMDB: 'off',
  GOTOOLCHAIN: 'local',
  CGO_ENABLED: '0',
  GOFLAGS: '-mod=mod -buildvcs=false',
};

const PROGRESS_EVERY_MS = 15_000;

export function binDir(pin: GoModulePin): string {
  return path.join(CACHE_DIR, 'bin', `${pin.name}-${pin.version}`);
}

export function binaryPath(pin: GoModulePin, binary: string): string {
  return path.join(binDir(pin), binary);
}

interface ModuleInfo {
  Dir?: string;
  GoMod?: string;
  Error?: string;
}

async function download(pin: GoModulePin): Promise<ModuleInfo> {
  const { stdout } = await execa('go', ['mod', 'download', '-json', `${pin.module}@${pin.version}`], {
    env: GO_ENV,
    cwd: CACHE_DIR,
    reject: false,
  });
  const info = JSON.parse(stdout || '{}') as ModuleInfo;
  if (!info.Dir || !info.GoMod) {
    throw new Error(
      `Go module ${pin.module}@${pin.version} could not be downloaded: ${info.Error ?? 'no output'}`,
    );
  }
  return info;
}

/** Source directory of a pinned module in the Go module cache, downloading it if needed. */
export async function moduleDir(pin: GoModulePin): Promise<string> {
  return (await download(pin)).Dir ?? '';
}

/** `replace` lines for a wrapper module: staging modules (k8s.io/kubernetes) and explicit ones. */
async function replaces(pin: GoModulePin): Promise<string[]> {
  const lines = Object.entries(pin.replace ?? {}).map(([mod, v]) => `replace ${mod} => ${mod} ${v}`);
  if (pin.stagingVersion) {
    // Derived from the pinned go.mod, so a version bump cannot miss a newly added staging module.
    const gomod = await readFile((await download(pin)).GoMod ?? '', 'utf8');
    for (const m of gomod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)) {
      lines.push(`replace ${m[1]} => ${m[1]} ${pin.stagingVersion}`);
    }
  }
  return lines;
}

async function prepareWrapper(pin: GoModulePin, log: Log): Promise<string> {
  const dir = path.join(CACHE_DIR, 'build', `${pin.name}-${pin.version}`);
  await mkdir(dir, { recursive: true });
  const packages = Object.values(pin.binaries ?? {});
  const gomod = [
    `module capi-vip-allocator.local/build/${pin.name}`,
    '',
    'go 1.26',
    '',
    `require ${pin.module} ${pin.version}`,
    '',
    ...(await replaces(pin)),
    '',
  ].join('\n');
  const tools = [
    '//go:build tools',
    '',
    'package tools',
    '',
    'import (',
    ...packages.map((p) => `\t_ "${p}"`),
    ')',
    '',
  ];
  await writeFile(path.join(dir, 'go.mod'), gomod);
  if (pin.sources) {
    // The wrapper is the main package itself: its imports are what tidy resolves.
    for (const file of (await readdir(path.join(ROOT, pin.sources))).filter((f) => f.endsWith('.go'))) {
      await copyFile(path.join(ROOT, pin.sources, file), path.join(dir, file));
    }
  } else {
    await writeFile(path.join(dir, 'tools.go'), tools.join('\n'));
  }
  log(`  ${pin.name} ${pin.version}: resolving modules (go mod tidy)`);
  await execa('go', ['mod', 'tidy'], { cwd: dir, env: GO_ENV });
  return dir;
}

function ldflags(pin: GoModulePin): string {
  return ['-s', '-w', ...(pin.ldflagsX ?? []).map((x) => `-X ${x}`)].join(' ');
}

async function buildPin(pin: GoModulePin, step: string, log: Log): Promise<void> {
  const started = Date.now();
  const dir = await prepareWrapper(pin, log);
  const packages = Object.values(pin.binaries ?? {});
  const { stdout: deps } = await execa('go', ['list', '-deps', ...packages], { cwd: dir, env: GO_ENV });
  const total = deps.split('\n').filter(Boolean).length;
  const out = path.join(dir, 'out');
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  let compiled = 0;
  let last = '';
  const tail: string[] = [];
  const timer = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    log(
      `  ${step} ${pin.name} ${pin.version}: compiled ${compiled}/${total} packages not yet cached, ${secs}s (${last})`,
    );
  }, PROGRESS_EVERY_MS);
  try {
    // One `go build -o <file>` per binary: explicit names (a `/v3` package would be named `v3`),
    // and the second binary reuses the first one's compiled packages.
    for (const [binary, pkg] of Object.entries(pin.binaries ?? {})) {
      const build = execa(
        'go',
        ['build', '-v', '-trimpath', '-ldflags', ldflags(pin), '-o', path.join(out, binary), pkg],
        {
          cwd: dir,
          env: GO_ENV,
          all: true,
          buffer: false,
        },
      );
      build.all?.setEncoding('utf8');
      build.all?.on('data', (chunk: string) => {
        for (const line of chunk.split('\n').filter(Boolean)) {
          compiled += 1;
          last = line;
          tail.push(line);
          if (tail.length > 40) tail.shift();
        }
      });
      await build.catch((err: unknown) => {
        throw new Error(
          `go build of ${binary} (${pin.name} ${pin.version}) failed in ${dir}:\n${tail.join('\n')}`,
          {
            cause: err,
          },
        );
      });
    }
  } finally {
    clearInterval(timer);
  }
  // Binaries land in the cache only when complete, so an interrupted build is simply redone.
  await mkdir(binDir(pin), { recursive: true });
  for (const binary of Object.keys(pin.binaries ?? {})) {
    await rename(path.join(out, binary), binaryPath(pin, binary));
  }
  log(`  ${step} ${pin.name} ${pin.version}: built in ${Math.round((Date.now() - started) / 1000)}s`);
}

/** Builds every missing control-plane binary (cached by version) and says how far along it is. */
export async function ensureBinaries(log: Log, capi: CapiRelease = capiRelease()): Promise<void> {
  await ensurePins(
    log,
    [PINS.etcd, PINS.kubernetes, capi.pin, PINS.ipam, PINS.kustomize, PINS.helm, PINS.kubeVip],
    'the control plane',
  );
}

/** Builds the binaries of these pins that are not cached yet, with progress; `what` names them in the log. */
export async function ensurePins(log: Log, pins: readonly GoModulePin[], what: string): Promise<void> {
  await mkdir(CACHE_DIR, { recursive: true });
  const missing = pins.filter((pin) =>
    Object.keys(pin.binaries ?? {}).some((b) => !existsSync(binaryPath(pin, b))),
  );
  if (missing.length === 0) return;
  await execa('go', ['version'], { env: GO_ENV }).catch((err: unknown) => {
    throw new Error(`Go >= 1.26 is needed to build ${what}, and \`go\` was not found`, {
      cause: err,
    });
  });
  log(
    `Building ${missing.map((p) => `${p.name} ${p.version}`).join(', ')} from the Go module proxy (once; cached in .cache/bin)`,
  );
  const started = Date.now();
  for (const [i, pin] of missing.entries()) {
    await buildPin(pin, `[${i + 1}/${missing.length}]`, log);
  }
  log(`Built ${what} in ${Math.round((Date.now() - started) / 1000)}s`);
}
