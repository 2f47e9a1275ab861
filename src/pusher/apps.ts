/** One Pusher Channels app: its credentials and its limits. */
export interface PusherApp {
  id: string;
  key: string;
  secret: string;
  name?: string;
  /** Whether its clients may send `client-*` events (on private and presence channels). */
  enableClientMessages: boolean;
  /** Members a presence channel may hold (Pusher's 100). */
  maxPresenceMembers: number;
  /** Bytes a presence member's `user_info` may take. */
  maxPresenceMemberBytes: number;
  /** Bytes an event's data may take (Pusher's 10 KB). */
  maxEventBytes: number;
  /** Channels one triggered event may name (Pusher's 100). */
  maxChannelsPerEvent: number;
  /** Events one `batch_events` request may hold (Pusher's 10). */
  maxBatchEvents: number;
  /** Where the app's webhooks go, and which events each takes (all when absent). */
  webhooks: Array<{ url: string; events?: string[] }>;
}

const SAFE = /^[A-Za-z0-9_.-]+$/;

/** Pusher's defaults for what an app spec does not say. */
export const PUSHER_APP_DEFAULTS = Object.freeze({
  enableClientMessages: false,
  maxPresenceMembers: 100,
  maxPresenceMemberBytes: 1024,
  maxEventBytes: 10240,
  maxChannelsPerEvent: 100,
  maxBatchEvents: 10,
});

/** An app from its one-line form `id:key:secret` (a flag or a variable); throws a TypeError saying what is wrong. */
export function parsePusherApp(spec: string): PusherApp {
  const parts = spec.trim().split(':');
  if (parts.length !== 3) throw new TypeError(`"${spec}" is not a Pusher app: expected id:key:secret`);
  const [id, key, secret] = parts;
  for (const [what, value] of [
    ['id', id],
    ['key', key],
    ['secret', secret],
  ] as const) {
    if (!SAFE.test(value)) throw new TypeError(`Pusher app "${spec}": its ${what} must be letters, digits, _ . - (expected id:key:secret)`);
  }
  return { id, key, secret, ...PUSHER_APP_DEFAULTS, webhooks: [] };
}

/** The apps a gateway serves, by key (WebSocket `/app/<key>`, API `auth_key`) and by id (API paths). */
export class PusherApps {
  private readonly keys = new Map<string, PusherApp>();
  private readonly ids = new Map<string, PusherApp>();

  /** Throws a TypeError for two apps with one id or one key. */
  constructor(apps: Iterable<PusherApp>) {
    for (const app of apps) {
      if (this.ids.has(app.id)) throw new TypeError(`two Pusher apps have the id ${app.id}`);
      if (this.keys.has(app.key)) throw new TypeError(`two Pusher apps have the key ${app.key}`);
      this.ids.set(app.id, app);
      this.keys.set(app.key, app);
    }
  }

  byKey(key: string): PusherApp | undefined {
    return this.keys.get(key);
  }

  byId(id: string): PusherApp | undefined {
    return this.ids.get(id);
  }

  all(): PusherApp[] {
    return [...this.ids.values()];
  }
}
