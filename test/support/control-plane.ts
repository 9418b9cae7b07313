/**
 * `npm run control-plane` as users run it, for the suites that drive the plane's CLI itself (its
 * progress on our stderr unless `options` say otherwise). test/global-setup.js keeps a plain-JS
 * twin of this line: jest loads global setup natively, outside ts-jest.
 */
import { execa, type Options } from 'execa';

export const controlPlane = (args: string[], options: Options = {}) =>
  execa('npx', ['tsx', 'hack/control-plane/cli.ts', ...args], { stderr: 'inherit', ...options });
