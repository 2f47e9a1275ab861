import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadOptions } from '../../src/config/load.js';
import { defaultOptions, optionSpecs, optionUsage, resolveOptions } from '../../src/config/options.js';
import { resolvePusherApps } from '../../src/pusher/apps.js';

function configFile(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'pushgate-')), 'config.json');
  writeFileSync(path, content);
  return path;
}

describe('options', () => {
  it('has the embedded defaults of the issue: ws 0.0.0.0:7777, api 127.0.0.1:7788, 60 s heartbeat', () => {
    assert.equal(defaultOptions.host, '0.0.0.0');
    assert.equal(defaultOptions.port, 7777);
    assert.equal(defaultOptions.apiHost, '127.0.0.1');
    assert.equal(defaultOptions.apiPort, 7788);
    assert.equal(defaultOptions.heartbeatInterval, 60);
    assert.deepEqual(resolveOptions(), { ...defaultOptions, allowedOrigins: [] });
  });

  it('has a flag and a PUSHGATE_ variable for every option, and a default for each', () => {
    for (const spec of optionSpecs) {
      assert.match(spec.flag, /^--[a-z][a-z0-9-]*$/);
      assert.match(spec.env, /^PUSHGATE_[A-Z][A-Z0-9_]*$/);
      assert.ok(spec.key in defaultOptions, spec.key);
    }
    const names = optionSpecs.map((s) => s.flag);
    for (const flag of [
      '--port',
      '--host',
      '--api-port',
      '--api-host',
      '--allowed-origins',
      '--heartbeat-interval',
      '--max-rooms',
      '--max-batch-items',
      '--max-batch-delay',
    ]) {
      assert.ok(names.includes(flag), flag);
    }
    assert.equal(optionSpecs.find((s) => s.key === 'apiPort')?.env, 'PUSHGATE_API_PORT');
  });

  it('refuses bad values with a message naming the option', () => {
    assert.throws(() => resolveOptions({ port: 'abc' }), /--port \(PUSHGATE_PORT.*integer from 0 to 65535, got "abc"/);
    assert.throws(() => resolveOptions({ port: 70000 }), /--port/);
    assert.throws(() => resolveOptions({ maxRooms: 0 }), /--max-rooms/);
    assert.throws(() => resolveOptions({ heartbeatInterval: -1 }), /--heartbeat-interval/);
    assert.throws(() => resolveOptions({ maxBatchDelay: 1.5 }), /--max-batch-delay/);
    assert.throws(() => resolveOptions({ logLevel: 'loud' }), /--log-level.*one of fatal/);
    assert.throws(() => resolveOptions({ allowedOrigins: 5 }), /--allowed-origins/);
    assert.throws(() => resolveOptions({ colour: 'red' } as never), /unknown option "colour"/);
    assert.throws(() => resolveOptions({ allowedOrigins: ['example.com'] }), /--allowed-origins.*"example.com" must look like/);
    assert.throws(() => resolveOptions({ host: ' , ' }), /--host.*at least one address/);
  });

  it('reads booleans as flags alone, words in variables and JSON booleans in files, off by default', async () => {
    assert.equal(defaultOptions.publicStats, false);
    assert.equal(optionUsage(optionSpecs.find((s) => s.key === 'publicStats')!), '--public-stats');
    assert.equal(optionUsage(optionSpecs.find((s) => s.key === 'port')!), '--port <port>');
    for (const [raw, value] of [
      [true, true],
      [false, false],
      ['true', true],
      ['FALSE', false],
      ['1', true],
      ['0', false],
      ['yes', true],
      [' no ', false],
    ] as const) {
      assert.equal(resolveOptions({ publicStats: raw }).publicStats, value, String(raw));
    }
    for (const raw of ['maybe', '', 'constructor', 1, null]) {
      assert.throws(() => resolveOptions({ publicStats: raw }), /--public-stats \(PUSHGATE_PUBLIC_STATS.*must be true or false/, String(raw));
    }
    assert.equal((await loadOptions({ env: { PUSHGATE_PUBLIC_STATS: 'true' } })).publicStats, true);
    assert.equal((await loadOptions({ configFile: configFile('{"publicStats": true}'), env: { PUSHGATE_PUBLIC_STATS: 'false' } })).publicStats, false);
  });

  it('takes flags over environment over config file over defaults', async () => {
    const file = configFile(JSON.stringify({ port: 1111, apiPort: 2222, maxRooms: 3, allowedOrigins: ['https://a.example'] }));
    const options = await loadOptions({
      configFile: file,
      env: { PUSHGATE_API_PORT: '3333', PUSHGATE_MAX_ROOMS: '4', PUSHGATE_ALLOWED_ORIGINS: 'https://b.example, https://*.c.example' },
      flags: { maxRooms: '5' },
    });
    assert.equal(options.port, 1111);
    assert.equal(options.apiPort, 3333);
    assert.equal(options.maxRooms, 5);
    assert.deepEqual(options.allowedOrigins, ['https://b.example', 'https://*.c.example']);
    assert.equal(options.maxBatchItems, defaultOptions.maxBatchItems);
  });

  it('takes Pusher apps as id:key:secret from flags and variables, and as objects too from the config file', async () => {
    const app = {
      id: 'app2',
      key: 'key2',
      secret: 'secret2',
      maxPresenceMembers: 5,
      webhooks: [{ url: 'http://127.0.0.1:9/hooks', events: ['member_added'] }],
    };
    const options = await loadOptions({ configFile: configFile(JSON.stringify({ pusherApps: ['app1:key1:secret1', app] })) });
    assert.deepEqual(options.pusherApps, ['app1:key1:secret1', app]);
    const apps = resolvePusherApps(options.pusherApps, true).all();
    assert.deepEqual(
      apps.map(({ id, maxPresenceMembers, enableClientMessages, webhooks }) => ({ id, maxPresenceMembers, enableClientMessages, webhooks })),
      [
        { id: 'app1', maxPresenceMembers: 100, enableClientMessages: true, webhooks: [] },
        { id: 'app2', maxPresenceMembers: 5, enableClientMessages: true, webhooks: app.webhooks },
      ],
    );
    assert.deepEqual((await loadOptions({ env: { PUSHGATE_PUSHER_APPS: 'a:b:c, d:e:f' } })).pusherApps, ['a:b:c', 'd:e:f']);
    await assert.rejects(
      loadOptions({ configFile: configFile(JSON.stringify({ pusherApps: [{ ...app, maxPresenceMember: 5 }] })) }),
      /pusherApps\[0\]: unknown field "maxPresenceMember"/,
    );
    await assert.rejects(
      loadOptions({ configFile: configFile(JSON.stringify({ pusherApps: ['a:b:c', { id: 'x', key: 'b', secret: 's' }] })) }),
      /two Pusher apps have the key b/,
    );
    await assert.rejects(
      loadOptions({ configFile: configFile(JSON.stringify({ pusherApps: [7] })) }),
      /--pusher-apps.*must be a comma-separated string of id:key:secret/,
    );
  });

  it('takes a TLS certificate with its key only, and h2c only without TLS', () => {
    assert.deepEqual(
      (({ tlsCert, tlsKey, apiTlsCert, apiH2c }) => ({ tlsCert, tlsKey, apiTlsCert, apiH2c }))(resolveOptions({ tlsCert: 'c.pem', tlsKey: 'k.pem' })),
      { tlsCert: 'c.pem', tlsKey: 'k.pem', apiTlsCert: '', apiH2c: false },
    );
    assert.throws(() => resolveOptions({ tlsCert: 'c.pem' }), /--tls-key .*--tls-cert and --tls-key go together/);
    assert.throws(() => resolveOptions({ apiTlsKey: 'k.pem' }), /--api-tls-cert .*go together/);
    assert.throws(() => resolveOptions({ apiH2c: true, tlsCert: 'c.pem', tlsKey: 'k.pem' }), /--api-h2c .*h2c is HTTP\/2 without TLS/);
    assert.equal(resolveOptions({ apiH2c: 'true' }).apiH2c, true);
  });

  it('refuses config files that are unreadable, not JSON, not an object or hold bad options', async () => {
    await assert.rejects(loadOptions({ configFile: '/nonexistent/pushgate.json' }), /cannot read config file/);
    await assert.rejects(loadOptions({ configFile: configFile('{port: 1') }), /not valid JSON/);
    await assert.rejects(loadOptions({ configFile: configFile('[1]') }), /must hold a JSON object/);
    await assert.rejects(loadOptions({ configFile: configFile('{"maxRooms": "many"}') }), /config file .*--max-rooms/);
    await assert.rejects(loadOptions({ configFile: configFile('{"prot": 1}') }), /unknown option "prot"/);
  });
});

describe('README', () => {
  it('documents every option with its flag, variable and config key', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync('README.md', 'utf8');
    for (const spec of optionSpecs) {
      assert.ok(readme.includes(`| \`${optionUsage(spec)}\` | \`${spec.env}\` | \`${spec.key}\` |`), `README row for ${spec.flag}`);
    }
  });
});
