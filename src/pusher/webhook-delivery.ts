import type { Logger } from 'pino';
import { Agent } from 'undici';
import { HookClient, type HookClientSettings, type HookObserver } from '../hooks/hook-client.js';
import type { PusherApps } from './apps.js';
import { type PusherWebhookCounters, PusherWebhooks, webhookPost } from './pusher-webhooks.js';

/** The hook client's settings a webhook POST is made with (no pushgate signature: Pusher's own is in the headers). */
export type WebhookClientSettings = Omit<HookClientSettings, 'secret'>;

/** The apps' webhooks and the HTTP clients they are posted through. */
export interface PusherWebhookDelivery {
  webhooks: PusherWebhooks;
  /** Posts what is queued (waiting at most `timeoutMs`), then closes the clients' connections. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The webhooks of the apps that have some, posted through one keep-alive undici Agent with a
 * {@link HookClient} per URL (its timeout, concurrency limit, answer bound and circuit breaker, as for the
 * gateway's hooks); null when no app has a webhook.
 */
export function pusherWebhookDelivery(
  apps: PusherApps,
  settings: WebhookClientSettings,
  log: Logger,
  counters: PusherWebhookCounters,
  observer?: HookObserver,
): PusherWebhookDelivery | null {
  if (!apps.all().some((app) => app.webhooks.length > 0)) return null;
  const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: settings.concurrency, pipelining: 1 });
  const post = webhookPost((url) => new HookClient('pusher-webhook', url, { ...settings, secret: '' }, dispatcher, observer));
  const webhooks = new PusherWebhooks({ apps, post, counters, log: log.child({ part: 'pusher-webhooks' }) });
  return {
    webhooks,
    async close(timeoutMs) {
      await webhooks.flush(timeoutMs);
      webhooks.stop();
      await dispatcher.close();
    },
  };
}
