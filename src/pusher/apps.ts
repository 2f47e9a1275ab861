/** One Pusher Channels app: its credentials and its limits. */
export interface PusherApp {
  /** The app id of the HTTP API's paths (`/apps/<id>/…`). */
  id: string;
  /** The public key clients connect with (`/app/<key>`) and the API names in `auth_key`. */
  key: string;
  /** The secret every signature of the app is an HMAC with. */
  secret: string;
  name?: string;
  /** Whether its clients may send `client-*` events (on private and presence channels). Default false. */
  enableClientMessages: boolean;
  /** Members a presence channel may hold. Default 100 (Pusher's limit). */
  maxPresenceMembers: number;
  /** Bytes a presence member's `user_info` may take. Default 1024 (Pusher's limit). */
  maxPresenceMemberBytes: number;
  /** Bytes an event's data may take. Default 10240 (Pusher's 10 KB). */
  maxEventBytes: number;
  /** Channels one triggered event may name. Default 100 (Pusher's limit). */
  maxChannelsPerEvent: number;
  /** Events one `batch_events` request may hold. Default 10 (Pusher's limit). */
  maxBatchEvents: number;
  /** Where the app's webhooks go, and which events each takes (all when absent). Default none. */
  webhooks: PusherWebhook[];
}

/** One webhook endpoint of an app. */
export interface PusherWebhook {
  /** An http(s) URL the gateway POSTs Pusher's webhook body to. */
  url: string;
  /** The webhook events it takes ({@link PUSHER_WEBHOOK_EVENTS}); all of them when absent. */
  events?: string[];
}

/** The events Pusher's webhooks report, by the `name` each carries. */
export const PUSHER_WEBHOOK_EVENTS: readonly string[] = Object.freeze([
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
]);

// No `:` (the one-line form and the hub's room names split on it), no `/`, `?` or `&` (ids and keys
// stand in URL paths and queries unencoded), no space: what Pusher's own ids, keys and secrets are made of.
const SAFE = /^[A-Za-z0-9_.-]+$/;
const SAFE_CHARACTERS = 'letters, digits, _ . -';

const ONE_LINE_FORM = 'id:key:secret (e.g. 1234:app-key:app-secret)';

/** Pusher's defaults for what an app spec does not say. */
export const PUSHER_APP_DEFAULTS = Object.freeze({
  enableClientMessages: false,
  maxPresenceMembers: 100,
  maxPresenceMemberBytes: 1024,
  maxEventBytes: 10240,
  maxChannelsPerEvent: 100,
  maxBatchEvents: 10,
});

type Limit = 'maxPresenceMembers' | 'maxPresenceMemberBytes' | 'maxEventBytes' | 'maxChannelsPerEvent' | 'maxBatchEvents';
const LIMITS: readonly Limit[] = ['maxPresenceMembers', 'maxPresenceMemberBytes', 'maxEventBytes', 'maxChannelsPerEvent', 'maxBatchEvents'];
const FIELDS: ReadonlySet<string> = new Set(['id', 'key', 'secret', 'name', 'enableClientMessages', ...LIMITS, 'webhooks']);

/**
 * An app from its one-line form `id:key:secret` (a flag or an environment variable), with Pusher's
 * defaults for the rest. Throws a TypeError saying what is wrong and showing the expected form.
 */
export function parsePusherApp(spec: string): PusherApp {
  const parts = spec.trim().split(':');
  if (parts.length !== 3) {
    // The secret is never echoed: a spec with one `:` too many would print it whole.
    const got = parts.length < 3 ? `${parts.length} part${parts.length === 1 ? '' : 's'}` : `${parts.length} parts`;
    throw new TypeError(`a Pusher app is three parts separated by ':', got ${got}: expected ${ONE_LINE_FORM}`);
  }
  const [id, key, secret] = parts as [string, string, string];
  for (const [what, value] of [
    ['id', id],
    ['key', key],
    ['secret', secret],
  ] as const) {
    const problem = credentialProblem(value);
    if (problem !== null) {
      const shown = what === 'secret' ? '' : ` "${value}"`;
      const app = what === 'id' ? 'Pusher app' : `Pusher app "${id}"`;
      throw new TypeError(`${app}: its ${what}${shown} must be ${problem} (expected ${ONE_LINE_FORM})`);
    }
  }
  return { id, key, secret, ...PUSHER_APP_DEFAULTS, webhooks: [] };
}

/**
 * An app from an entry of the config file's `pusherApps` array; `where` names the entry in messages
 * (e.g. `pusherApps[0]`). Every field is checked, unknown fields included (a misspelt limit would
 * otherwise be its default, silently). Throws a TypeError saying which field is wrong and why.
 */
export function pusherAppFromObject(value: unknown, where: string): PusherApp {
  if (!isObject(value)) throw new TypeError(`${where}: a Pusher app must be an object such as {"id": "1234", "key": "app-key", "secret": "app-secret"}`);
  for (const field of Object.keys(value)) {
    if (!FIELDS.has(field)) throw new TypeError(`${where}: unknown field "${field}" (known: ${[...FIELDS].join(', ')})`);
  }
  const app: PusherApp = {
    id: credential(value, 'id', where),
    key: credential(value, 'key', where),
    secret: credential(value, 'secret', where),
    ...PUSHER_APP_DEFAULTS,
    webhooks: [],
  };
  if (value.name !== undefined) {
    if (typeof value.name !== 'string' || value.name.trim() === '') throw new TypeError(`${where}.name: must be a non-empty string`);
    app.name = value.name;
  }
  if (value.enableClientMessages !== undefined) {
    if (typeof value.enableClientMessages !== 'boolean') throw new TypeError(`${where}.enableClientMessages: must be true or false`);
    app.enableClientMessages = value.enableClientMessages;
  }
  for (const limit of LIMITS) {
    const n = value[limit];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw new TypeError(`${where}.${limit}: must be a positive integer (default ${PUSHER_APP_DEFAULTS[limit]}), got ${JSON.stringify(n)}`);
    }
    app[limit] = n;
  }
  if (value.webhooks !== undefined) {
    if (!Array.isArray(value.webhooks)) throw new TypeError(`${where}.webhooks: must be an array of {"url": "https://…", "events": [...]}`);
    app.webhooks = value.webhooks.map((hook, i) => webhook(hook, `${where}.webhooks[${i}]`));
  }
  return app;
}

/** An app as the options give it: the one-line form `id:key:secret`, or a config file's object. */
export type PusherAppSpec = string | Readonly<Record<string, unknown>>;

/**
 * The apps of `--pusher-apps` (or the config file's `pusherApps`): each one-line form with
 * `clientEvents` (`--pusher-client-events`) for its client events, each object as it says (`clientEvents`
 * where it says nothing). Throws a TypeError for a wrong spec, or two apps with one id or key.
 */
export function resolvePusherApps(specs: readonly PusherAppSpec[], clientEvents: boolean): PusherApps {
  return new PusherApps(
    specs.map((spec, i) => {
      if (typeof spec === 'string') return { ...parsePusherApp(spec), enableClientMessages: clientEvents };
      const app = pusherAppFromObject(spec, `pusherApps[${i}]`);
      return spec.enableClientMessages === undefined ? { ...app, enableClientMessages: clientEvents } : app;
    }),
  );
}

/** The apps a gateway serves, by key (WebSocket `/app/<key>`, API `auth_key`) and by id (API paths). */
export class PusherApps {
  private readonly keys = new Map<string, PusherApp>();
  private readonly ids = new Map<string, PusherApp>();

  /** Throws a TypeError for two apps with one id or one key: a key or id must name one app. */
  constructor(apps: Iterable<PusherApp>) {
    for (const app of apps) {
      if (this.ids.has(app.id)) throw new TypeError(`two Pusher apps have the id ${app.id}: each app needs its own id`);
      if (this.keys.has(app.key)) throw new TypeError(`two Pusher apps have the key ${app.key}: each app needs its own key`);
      this.ids.set(app.id, app);
      this.keys.set(app.key, app);
    }
  }

  /** The app of a key, as a client's `/app/<key>` or an API request's `auth_key` names it. */
  byKey(key: string): PusherApp | undefined {
    return this.keys.get(key);
  }

  /** The app of an id, as the API's `/apps/<id>/…` paths name it. */
  byId(id: string): PusherApp | undefined {
    return this.ids.get(id);
  }

  /** Every app, in the order given. */
  all(): PusherApp[] {
    return [...this.ids.values()];
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function credentialProblem(value: string): string | null {
  if (value === '') return 'non-empty';
  return SAFE.test(value) ? null : `only ${SAFE_CHARACTERS}`;
}

function credential(value: Record<string, unknown>, field: 'id' | 'key' | 'secret', where: string): string {
  const v = value[field];
  if (v === undefined) throw new TypeError(`${where}.${field}: missing (a Pusher app needs an id, a key and a secret)`);
  // Pusher's dashboards show numeric app ids: a config written from one may have the number unquoted.
  if (typeof v === 'number') throw new TypeError(`${where}.${field}: must be a string: write "${v}", in quotes`);
  if (typeof v !== 'string') throw new TypeError(`${where}.${field}: must be a string`);
  const problem = credentialProblem(v);
  if (problem !== null) throw new TypeError(`${where}.${field}: must be ${problem}${field === 'secret' ? '' : `, got "${v}"`}`);
  return v;
}

function webhook(value: unknown, where: string): PusherWebhook {
  if (!isObject(value)) throw new TypeError(`${where}: must be an object {"url": "https://…", "events": [...]}`);
  for (const field of Object.keys(value)) {
    if (field !== 'url' && field !== 'events') throw new TypeError(`${where}: unknown field "${field}" (known: url, events)`);
  }
  if (typeof value.url !== 'string') throw new TypeError(`${where}.url: missing, or not a string`);
  let url: URL;
  try {
    url = new URL(value.url);
  } catch {
    throw new TypeError(`${where}.url: "${value.url}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${where}.url: must be http:// or https://, got "${value.url}"`);
  const hook: PusherWebhook = { url: value.url };
  if (value.events !== undefined) {
    const events = value.events;
    // An empty list would be a webhook that never fires: omitting `events` is how to take them all.
    if (!Array.isArray(events) || events.length === 0) {
      throw new TypeError(`${where}.events: must be a non-empty array of ${PUSHER_WEBHOOK_EVENTS.join(', ')} (omit it for all)`);
    }
    for (const event of events) {
      if (typeof event !== 'string' || !PUSHER_WEBHOOK_EVENTS.includes(event)) {
        throw new TypeError(`${where}.events: ${JSON.stringify(event)} is not a Pusher webhook event (${PUSHER_WEBHOOK_EVENTS.join(', ')})`);
      }
    }
    hook.events = [...new Set(events as string[])];
  }
  return hook;
}
