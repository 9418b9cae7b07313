/**
 * `npm run image`: builds the Dockerfile's image where no image registry is reachable, for
 * containerd to import later (docker-archive tarballs under .cache/image):
 *
 * 1. a local base in place of node:24-bookworm-slim, made once: `debootstrap --variant=minbase`
 *    from Debian's mirror, this repository's pinned Node binary (the `node` devDependency) and npm
 *    from the npm registry, `docker import`ed as capi-vip-allocator.local/node:24-bookworm;
 * 2. `docker build --build-arg NODE_IMAGE=<that base>` of the Dockerfile as it is (legacy builder);
 * 3. a pause image for a kubelet's pod sandbox from the same base.
 *
 * Each step is skipped when its inputs did not change: the images carry a label with the hash of
 * what made them (for the image: the base, the Dockerfile and every file it COPYs).
 */
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, realpathSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { docker, ensureDocker, stopDocker } from './docker.js';
import { CACHE_DIR, ROOT, type Log } from './control-plane/paths.js';

export const IMAGE_DIR = path.join(CACHE_DIR, 'image');
const BASE_DIR = path.join(IMAGE_DIR, 'base');
const ROOTFS = path.join(BASE_DIR, 'rootfs');
const DEBOOTSTRAP_DONE = path.join(BASE_DIR, 'debootstrap.done');

const SUITE = 'bookworm';
const MIRROR = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
/** The npm Node 24.21.0 was released with (the newest 11.x before it). */
export const NPM_VERSION = '11.19.1';
export const BASE_IMAGE = 'capi-vip-allocator.local/node:24-bookworm';
export const PAUSE_IMAGE = 'capi-vip-allocator.local/pause:1';
export const PAUSE_TAR = path.join(IMAGE_DIR, 'pause.tar');

export const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
export const IMAGE = `ghcr.io/gorizond/capi-vip-allocator:v${VERSION}`;
export const IMAGE_TAR = path.join(IMAGE_DIR, `capi-vip-allocator-v${VERSION}.tar`);

/** The label every image made here carries: the hash of its inputs. */
const KEY_LABEL = 'io.gorizond.capi-vip-allocator.inputs';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Where the host's extra CA bundle (an egress proxy's) goes in the base, when there is one. */
const CA_IN_IMAGE = '/etc/ssl/certs/ca-certificates.crt';

/** Sleeps until SIGTERM or SIGINT, then exits 0: all a pod sandbox needs. */
const PAUSE_DOCKERFILE = `FROM ${BASE_IMAGE}
USER 65535:65535
ENTRYPOINT ["/bin/sh", "-c", "trap 'exit 0' TERM INT; sleep infinity & wait"]
CMD []
`;

export interface Images {
  readonly image: string;
  readonly imageTar: string;
  readonly imageBytes: number;
  readonly pause: string;
  readonly pauseTar: string;
  readonly baseBytes: number;
}

const sha256 = (...parts: (string | Buffer)[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(0)} s`;
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;

/** Says every 15 s that `what` still runs, with its log's last step (docker build) or line. */
function progress(log: Log, what: string, logFile: string): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    const lines = existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          // eslint-disable-next-line no-control-regex
          .replace(/\x1b\[[0-9;]*m/g, '')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
      : [];
    const last = lines.findLast((l) => /^Step \d+\/\d+ :/.test(l)) ?? lines.at(-1) ?? '';
    log(`  ... ${what}: ${seconds(started)}${last ? ` (${last.slice(0, 100)})` : ''}`);
  }, 15_000);
  return () => clearInterval(timer);
}

/** Runs a command with its output in `logFile`; on failure the error carries the log's tail. */
async function logged(log: Log, what: string, logFile: string, run: () => ResultPromise): Promise<void> {
  await mkdir(path.dirname(logFile), { recursive: true });
  const out = createWriteStream(logFile);
  await new Promise((resolve) => out.once('open', resolve));
  const stop = progress(log, what, logFile);
  try {
    const child = run();
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    const result = await child;
    if (result.failed) throw new Error(result.shortMessage);
  } catch (err) {
    const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
    throw new Error(`${what} failed (${(err as Error).message.split('\n')[0]}); ${logFile}:\n${tail}`, {
      cause: err,
    });
  } finally {
    stop();
    out.end();
  }
}

/** The label of an image, or undefined when the engine has no such image. */
async function inputsOf(image: string): Promise<string | undefined> {
  const r = await docker(['image', 'inspect', '-f', `{{index .Config.Labels "${KEY_LABEL}"}}`, image], {
    reject: false,
  });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

async function imageField(image: string, field: string): Promise<string> {
  return String((await docker(['image', 'inspect', '-f', `{{${field}}}`, image])).stdout).trim();
}

/** The real Node binary of the `node` devDependency (bin/node may be a hard link or a shim). */
function nodeBinary(): string {
  const candidates = [
    path.join(ROOT, 'node_modules/node/bin/node'),
    path.join(ROOT, `node_modules/node-linux-${process.arch}/bin/node`),
    path.join(ROOT, `node_modules/node/node_modules/node-linux-${process.arch}/bin/node`),
  ];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const real = realpathSync(c);
    if (
      readFileSync(real)
        .subarray(0, 4)
        .equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))
    )
      return real;
  }
  throw new Error(`No Node binary (ELF) among ${candidates.join(', ')}: run npm ci`);
}

/** Debian minbase in ROOTFS, once; docs, manuals, locales and apt's caches removed. */
async function debootstrap(log: Log): Promise<void> {
  if (existsSync(DEBOOTSTRAP_DONE) && existsSync(ROOTFS)) return;
  const started = Date.now();
  log(`Making the base: debootstrap --variant=minbase ${SUITE} from ${MIRROR}`);
  await rm(ROOTFS, { recursive: true, force: true });
  await mkdir(BASE_DIR, { recursive: true });
  await logged(log, 'debootstrap', path.join(BASE_DIR, 'debootstrap.log'), () =>
    execa('debootstrap', ['--variant=minbase', SUITE, ROOTFS, MIRROR], { reject: false, buffer: false }),
  );
  for (const dir of [
    'usr/share/doc',
    'usr/share/man',
    'usr/share/info',
    'usr/share/locale',
    'var/lib/apt/lists',
  ]) {
    await rm(path.join(ROOTFS, dir), { recursive: true, force: true });
    await mkdir(path.join(ROOTFS, dir), { recursive: true });
  }
  await rm(path.join(ROOTFS, 'var/cache/apt'), { recursive: true, force: true });
  await mkdir(path.join(ROOTFS, 'var/cache/apt/archives/partial'), { recursive: true });
  // The engine mounts its own at run time; the host's must not stay in the image.
  for (const f of ['etc/resolv.conf', 'etc/hostname']) await rm(path.join(ROOTFS, f), { force: true });
  await writeFile(DEBOOTSTRAP_DONE, `${new Date().toISOString()} ${SUITE} ${MIRROR}\n`);
  log(`debootstrap done in ${seconds(started)}`);
}

/** The npm tarball from the registry, once. */
async function npmTarball(log: Log): Promise<string> {
  const tgz = path.join(BASE_DIR, `npm-${NPM_VERSION}.tgz`);
  if (existsSync(tgz)) return tgz;
  log(`npm pack npm@${NPM_VERSION}`);
  await execa('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', BASE_DIR, '--silent']);
  return tgz;
}

/**
 * The local base in the engine: debootstrap's root, Node in /usr/local/bin and npm in
 * /usr/local/lib/node_modules/npm as in node:24-bookworm-slim. Returns its size in bytes.
 */
export async function ensureBase(log: Log): Promise<number> {
  const node = nodeBinary();
  const nodeVersion = String((await execa(node, ['--version'])).stdout).trim();
  // This machine's egress re-signs TLS with its own CA: `npm ci` in the build stage needs it too.
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const ca = extraCa && existsSync(extraCa) ? await readFile(extraCa) : undefined;
  const changes = [
    `ENV PATH=${PATH_ENV}`,
    `ENV NODE_VERSION=${nodeVersion.replace(/^v/, '')}`,
    ...(ca ? [`ENV NODE_EXTRA_CA_CERTS=${CA_IN_IMAGE}`] : []),
    'CMD ["node"]',
  ];
  const nodeHash = sha256(await readFile(node));
  // debootstrap's marker is part of the key: a fresh debootstrap makes a new base.
  const keyOf = async (): Promise<string> =>
    sha256(
      existsSync(DEBOOTSTRAP_DONE) ? await readFile(DEBOOTSTRAP_DONE, 'utf8') : 'none',
      nodeHash,
      NPM_VERSION,
      ca ?? '',
      ...changes,
    );
  if ((await inputsOf(BASE_IMAGE)) === (await keyOf())) return Number(await imageField(BASE_IMAGE, '.Size'));

  const started = Date.now();
  await debootstrap(log);
  const tgz = await npmTarball(log);
  log(`Adding Node ${nodeVersion} and npm ${NPM_VERSION} to the base`);
  const local = path.join(ROOTFS, 'usr/local');
  await mkdir(path.join(local, 'bin'), { recursive: true });
  await copyFile(node, path.join(local, 'bin/node'));
  await chmod(path.join(local, 'bin/node'), 0o755);
  const npmDir = path.join(local, 'lib/node_modules/npm');
  await rm(npmDir, { recursive: true, force: true });
  await mkdir(npmDir, { recursive: true });
  await execa('tar', ['-xzf', tgz, '-C', npmDir, '--strip-components=1', '--no-same-owner']);
  for (const [link, target] of [
    ['npm', 'npm-cli.js'],
    ['npx', 'npx-cli.js'],
  ] as const) {
    await rm(path.join(local, 'bin', link), { force: true });
    await symlink(`../lib/node_modules/npm/bin/${target}`, path.join(local, 'bin', link));
  }
  const caFile = path.join(ROOTFS, CA_IN_IMAGE);
  await rm(caFile, { force: true });
  if (ca) {
    await mkdir(path.dirname(caFile), { recursive: true });
    await writeFile(caFile, ca, { mode: 0o644 });
  }
  const key = await keyOf();
  log(`docker import ${BASE_IMAGE}`);
  // Unbuffered: execa would otherwise keep (and cap) the whole tarball in memory.
  await execa('tar', ['--numeric-owner', '-C', ROOTFS, '-cf', '-', '.'], { buffer: false }).pipe(
    docker([
      'import',
      ...changes.flatMap((c) => ['--change', c]),
      '--change',
      `LABEL ${KEY_LABEL}=${key}`,
      '-',
      BASE_IMAGE,
    ]),
  );
  const bytes = Number(await imageField(BASE_IMAGE, '.Size'));
  log(`Base ${BASE_IMAGE}: ${mb(bytes)}, made in ${seconds(started)}`);
  return bytes;
}

/** The files and folders the Dockerfile COPYs from the context (not `--from` a stage). */
function copiedSources(dockerfile: string): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const m = /^\s*(?:COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    const words = (m[1] ?? '').trim().split(/\s+/);
    if (words.some((w) => w.startsWith('--from'))) continue;
    sources.push(...words.filter((w) => !w.startsWith('--')).slice(0, -1));
  }
  return sources;
}

/** Every file under `rel` (a file or a folder), as relative paths in a stable order. */
async function filesUnder(rel: string): Promise<string[]> {
  const abs = path.join(ROOT, rel);
  if (!(await stat(abs)).isDirectory()) return [rel];
  const out: string[] = [];
  for (const entry of (await readdir(abs, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    out.push(...(await filesUnder(path.join(rel, entry.name))));
  }
  return out;
}

/** The hash of what `docker build` would see: the base, Dockerfile, .dockerignore and the COPYed files. */
async function buildInputs(baseId: string): Promise<string> {
  const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ignore = existsSync(path.join(ROOT, '.dockerignore'))
    ? await readFile(path.join(ROOT, '.dockerignore'), 'utf8')
    : '';
  const parts: (string | Buffer)[] = [baseId, dockerfile, ignore];
  for (const source of copiedSources(dockerfile)) {
    for (const file of await filesUnder(source)) parts.push(file, await readFile(path.join(ROOT, file)));
  }
  return sha256(...parts);
}

/** `docker save` into `tar` unless the tarball there already holds these inputs. */
async function save(log: Log, image: string, tar: string, key: string): Promise<void> {
  const keyFile = `${tar}.inputs`;
  if (existsSync(tar) && existsSync(keyFile) && (await readFile(keyFile, 'utf8')).trim() === key) return;
  log(`docker save ${image} -> ${path.relative(ROOT, tar)}`);
  await rm(keyFile, { force: true });
  await docker(['save', '-o', `${tar}.tmp`, image]);
  await rename(`${tar}.tmp`, tar);
  await writeFile(keyFile, `${key}\n`);
}

/** The base, the image and the pause image, built when their inputs changed and saved for containerd. */
export async function ensureImages(log: Log): Promise<Images> {
  await mkdir(IMAGE_DIR, { recursive: true });
  const baseBytes = await ensureBase(log);
  const baseId = await imageField(BASE_IMAGE, '.Id');

  const key = await buildInputs(baseId);
  if ((await inputsOf(IMAGE)) !== key) {
    const previous = (await inputsOf(IMAGE)) !== undefined ? await imageField(IMAGE, '.Id') : undefined;
    const started = Date.now();
    log(
      `docker build ${IMAGE} (NODE_IMAGE=${BASE_IMAGE}, log ${path.relative(ROOT, path.join(IMAGE_DIR, 'build.log'))})`,
    );
    await logged(log, 'docker build', path.join(IMAGE_DIR, 'build.log'), () =>
      docker(
        [
          'build',
          '--network',
          'host',
          '--build-arg',
          `NODE_IMAGE=${BASE_IMAGE}`,
          '--label',
          `${KEY_LABEL}=${key}`,
          '-t',
          IMAGE,
          ROOT,
        ],
        { reject: false, buffer: false },
      ),
    );
    log(`Built ${IMAGE} in ${seconds(started)}`);
    const now = await imageField(IMAGE, '.Id');
    // The image it replaces, now untagged (kept when something still uses it).
    if (previous && previous !== now) await docker(['rmi', previous], { reject: false });
  }
  const imageBytes = Number(await imageField(IMAGE, '.Size'));
  await save(log, IMAGE, IMAGE_TAR, key);

  const pauseKey = sha256(baseId, PAUSE_DOCKERFILE);
  if ((await inputsOf(PAUSE_IMAGE)) !== pauseKey) {
    log(`docker build ${PAUSE_IMAGE}`);
    await docker(['build', '--label', `${KEY_LABEL}=${pauseKey}`, '-t', PAUSE_IMAGE, '-'], {
      input: PAUSE_DOCKERFILE,
    });
  }
  await save(log, PAUSE_IMAGE, PAUSE_TAR, pauseKey);
  return {
    image: IMAGE,
    imageTar: IMAGE_TAR,
    imageBytes,
    pause: PAUSE_IMAGE,
    pauseTar: PAUSE_TAR,
    baseBytes,
  };
}

/** `npm run image`: the images built (or found current) with our engine, stopped again when this started it. */
export async function buildImages(log: Log): Promise<Images> {
  const { started: ownEngine } = await ensureDocker(log);
  try {
    return await ensureImages(log);
  } finally {
    // An engine this started is not left behind; one that was running stays.
    if (ownEngine) await stopDocker(log);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const say: Log = (m) => process.stderr.write(`${m}\n`);
  const started = Date.now();
  const images = await buildImages(say);
  say(`Base  ${BASE_IMAGE}: ${mb(images.baseBytes)}`);
  say(`Image ${images.image}: ${mb(images.imageBytes)} -> ${path.relative(ROOT, images.imageTar)}`);
  say(`Pause ${images.pause} -> ${path.relative(ROOT, images.pauseTar)}`);
  say(`Done in ${seconds(started)}`);
}
