import { controlPlane } from './global-setup.js';

export default async function globalTeardown() {
  if (globalThis.startedPlane && !process.env.KEEP_CONTROL_PLANE) await controlPlane(['down']);
}
