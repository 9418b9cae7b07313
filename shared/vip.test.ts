import { fromAnnotations, toAnnotations, type Vip } from './vip.js';

test.each<Vip>([
  { host: '10.0.0.10', port: 6443 },
  { host: 'api.example.com', port: 7443 },
  { host: '10.0.0.10', port: 6443, prefix: 24, secondary: 'fd00::10', secondaryPrefix: 64 },
])('what toAnnotations writes, fromAnnotations reads back: %j', (vip) => {
  expect(fromAnnotations(toAnnotations(vip), 'ns/c1', 1)).toEqual(vip);
});

test('no VIP annotation is no VIP; no port annotation is the default port', () => {
  expect(fromAnnotations({}, 'ns/c1', 6443)).toBeUndefined();
  expect(fromAnnotations({ 'vip.capi.gorizond.io/control-plane-vip': '10.0.0.10' }, 'ns/c1', 6443)).toEqual({
    host: '10.0.0.10',
    port: 6443,
  });
});

test('a malformed annotation is an error naming the Cluster and the annotation', () => {
  expect(() =>
    fromAnnotations(
      {
        'vip.capi.gorizond.io/control-plane-vip': '10.0.0.10',
        'vip.capi.gorizond.io/control-plane-port': '0',
      },
      'ns/c1',
      6443,
    ),
  ).toThrow('Annotation vip.capi.gorizond.io/control-plane-port on Cluster ns/c1 is not a port: "0"');
});
