/**
 * The release workflow (.github/workflows/release.yml) cannot run here, so: actionlint judges it,
 * it pushes the image the release YAML and the Helm chart name, and its own shell steps run against
 * this tree (bash, the Node 24 the workflow sets up, a stand-in `gh`), passing and failing clearly.
 */
import { loadAllYaml, loadYaml } from '@kubernetes/client-node';
import { execa } from 'execa';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binaryPath, ensurePins } from '../../hack/control-plane/build.js';
import { ROOT } from '../../hack/control-plane/paths.js';
import { RELEASE_FILE } from '../../hack/release.js';
import { PINS } from '../../hack/versions.js';

const WORKFLOW = path.join(ROOT, '.github/workflows/release.yml');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | boolean>;
}
interface Workflow {
  env: Record<string, string>;
  jobs: { release: { steps: Step[] } };
}

const workflow = loadYaml(readFileSync(WORKFLOW, 'utf8')) as Workflow;
const steps = workflow.jobs.release.steps;
const IMAGE = workflow.env.IMAGE ?? '';
const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const TAG = `v${version}`;
const OWNER = IMAGE.split('/')[1] ?? '';

const step = (prefix: string): Step => {
  const found = steps.find((s) => s.name?.startsWith(prefix));
  if (!found?.run) throw new Error(`release.yml has no run step named "${prefix}…"`);
  return found;
};
const uses = (action: string): Step | undefined => steps.find((s) => s.uses?.startsWith(`${action}@`));

/** A `run:` script the way GitHub runs it (bash -eo pipefail), on the Node 24 of node_modules/.bin. */
function runStep(prefix: string, cwd: string, env: Record<string, string>, extraPath: string[] = []) {
  return execa('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step(prefix).run ?? ''], {
    cwd,
    reject: false,
    env: {
      ...env,
      IMAGE,
      PATH: [...extraPath, path.join(ROOT, 'node_modules/.bin'), process.env.PATH].join(':'),
    },
  });
}

/** A scratch folder that resolves node_modules (the steps import @kubernetes/client-node) from ours. */
function scratch(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'capi-vip-release-'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}
const scratchDirs: string[] = [];
const newScratch = (): string => {
  const dir = scratch();
  scratchDirs.push(dir);
  return dir;
};
afterAll(() => scratchDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const deploymentImages = (text: string): string[] =>
  (
    loadAllYaml(text) as {
      kind?: string;
      spec?: { template: { spec: { containers: { image: string }[] } } };
    }[]
  )
    .filter((o) => o?.kind === 'Deployment')
    .flatMap((d) => d.spec?.template.spec.containers.map((c) => c.image) ?? []);

test('actionlint finds nothing in the release workflow', async () => {
  // Built once from the Go module proxy into .cache/bin (a minute or two cold).
  await ensurePins((m) => void process.stderr.write(`${m}\n`), [PINS.actionlint], 'actionlint');
  // shellcheck (and pyflakes) are not installed here: actionlint lints `run:` scripts with them only
  // when they are on PATH and otherwise skips that check, so the scripts are run by the tests below.
  const result = await execa(
    binaryPath(PINS.actionlint, 'actionlint'),
    ['-no-color', path.relative(ROOT, WORKFLOW)],
    { cwd: ROOT, reject: false },
  );
  expect({ exitCode: result.exitCode, findings: result.stdout, stderr: result.stderr }).toEqual({
    exitCode: 0,
    findings: '',
    stderr: '',
  });
}, 600_000);

test('the workflow pushes the image the release YAML and the Helm chart reference', () => {
  expect(IMAGE).toMatch(/^ghcr\.io\/[a-z0-9-]+\/capi-vip-allocator$/);
  // The release YAML (committed, rendered from manifests/base) runs this version's tag of IMAGE.
  expect(deploymentImages(readFileSync(RELEASE_FILE, 'utf8'))).toEqual([`${IMAGE}:${TAG}`]);
  const values = loadYaml(
    readFileSync(path.join(ROOT, 'manifests/helm/capi-vip-allocator/values.yaml'), 'utf8'),
  ) as { image: { repository: string; tag: string } };
  expect(values.image).toMatchObject({ repository: IMAGE, tag: '' }); // tag: the chart's appVersion
  expect(uses('docker/build-push-action')?.with).toMatchObject({
    file: 'Dockerfile',
    platforms: 'linux/amd64,linux/arm64',
    push: true,
    tags: '${{ env.IMAGE }}:${{ env.TAG }}',
  });
  // Same helm as the tests render the chart with.
  expect(uses('azure/setup-helm')?.with?.version).toBe(PINS.helm.version);
});

test("the tag check passes on this tree's version and fails clearly otherwise", async () => {
  const check = 'Check the tag';
  const ok = await runStep(check, ROOT, { TAG, GITHUB_REPOSITORY_OWNER: OWNER });
  expect({ exitCode: ok.exitCode, stdout: ok.stdout }).toEqual({
    exitCode: 0,
    stdout: `Releasing ${IMAGE}:${TAG}`,
  });

  const wrongTag = await runStep(check, ROOT, { TAG: 'v99.0.0', GITHUB_REPOSITORY_OWNER: OWNER });
  expect(wrongTag.exitCode).toBe(1);
  expect(wrongTag.stdout).toContain(`::error::tag v99.0.0 is not package.json's version ${TAG}`);

  // GitHub owners may have capitals; GHCR names may not.
  const fork = await runStep(check, ROOT, { TAG, GITHUB_REPOSITORY_OWNER: 'Some-Fork' });
  expect(fork.exitCode).toBe(1);
  expect(fork.stdout).toContain('::error::this repository pushes ghcr.io/some-fork/capi-vip-allocator');

  // A version with no release series in metadata.yaml.
  const dir = newScratch();
  copyFileSync(path.join(ROOT, 'metadata.yaml'), path.join(dir, 'metadata.yaml'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ version: '7.3.0' }));
  const noSeries = await runStep(check, dir, { TAG: 'v7.3.0', GITHUB_REPOSITORY_OWNER: OWNER });
  expect(noSeries.exitCode).toBe(1);
  expect(noSeries.stdout).toContain('::error::metadata.yaml has no releaseSeries for 7.3');
});

test('the release YAML check passes on the committed files and fails on a stale or mistagged one', async () => {
  // A git checkout of its own holding the committed files, so changes in progress here do not count.
  const dir = newScratch();
  for (const file of [
    'manifests/release/capi-vip-allocator.yaml',
    'manifests/helm/capi-vip-allocator/values.yaml',
  ]) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    copyFileSync(path.join(ROOT, file), path.join(dir, file));
  }
  const git = (...args: string[]) =>
    execa('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd: dir });
  await git('init', '-q');
  await git('add', 'manifests');
  await git('commit', '-qm', 'release');
  const check = 'Check the release YAML';

  const ok = await runStep(check, dir, { TAG });
  expect({ exitCode: ok.exitCode, stdout: ok.stdout }).toEqual({ exitCode: 0, stdout: '' });

  const mistagged = await runStep(check, dir, { TAG: 'v99.0.0' });
  expect(mistagged.exitCode).toBe(1);
  expect(mistagged.stdout).toContain(`::error::the release YAML runs ${IMAGE}:${TAG}, not ${IMAGE}:v99.0.0`);

  writeFileSync(path.join(dir, 'manifests/release/capi-vip-allocator.yaml'), '# edited\n', { flag: 'a' });
  const stale = await runStep(check, dir, { TAG });
  expect(stale.exitCode).toBe(1);
  expect(stale.stdout).toContain('::error::manifests/release/capi-vip-allocator.yaml differs');
});

test('after npm run release-manifests, the release step attaches the release YAML, metadata.yaml and the chart', async () => {
  await execa('npm', ['run', 'release-manifests'], {
    cwd: ROOT,
    env: { PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` },
  });
  // The step runs where the checkout's files are (linked in), with `helm package`'s output in out/
  // and a stand-in gh that prints its arguments.
  const dir = newScratch();
  for (const file of ['manifests', 'metadata.yaml', 'CHANGELOG.md']) {
    symlinkSync(path.join(ROOT, file), path.join(dir, file));
  }
  mkdirSync(path.join(dir, 'out'));
  const chart = `capi-vip-allocator-${version}.tgz`;
  writeFileSync(path.join(dir, 'out', chart), '');
  mkdirSync(path.join(dir, 'bin'));
  writeFileSync(path.join(dir, 'bin/gh'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });

  const result = await runStep('Create the GitHub release', dir, { TAG, GH_TOKEN: 'unused' }, [
    path.join(dir, 'bin'),
  ]);
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: '' });
  const args = result.stdout.split('\n');
  expect(args.slice(0, 3)).toEqual(['release', 'create', TAG]);
  expect(args).toContain('--verify-tag');
  const assets = args.filter((a) => a.startsWith('out/')).sort();
  expect(assets).toEqual(
    [
      'out/capi-vip-allocator.yaml', // kubectl apply -f
      'out/runtime-extension-components.yaml', // clusterctl's name for this provider type
      'out/metadata.yaml',
      `out/${chart}`,
    ].sort(),
  );
  const released = readFileSync(RELEASE_FILE, 'utf8');
  expect(readFileSync(path.join(dir, 'out/capi-vip-allocator.yaml'), 'utf8')).toBe(released);
  expect(readFileSync(path.join(dir, 'out/runtime-extension-components.yaml'), 'utf8')).toBe(released);
  expect(readFileSync(path.join(dir, 'out/metadata.yaml'), 'utf8')).toBe(
    readFileSync(path.join(ROOT, 'metadata.yaml'), 'utf8'),
  );
}, 600_000);
