// `npm run test:unit`: every test that needs no control plane (the ones beside the code), without
// bringing the plane up. `npm test` still runs everything.
import base from './jest.config.js';

export default {
  ...base,
  testPathIgnorePatterns: [...base.testPathIgnorePatterns, '<rootDir>/test/'],
  globalSetup: undefined,
  globalTeardown: undefined,
  maxWorkers: '50%',
};
