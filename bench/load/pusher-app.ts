/**
 * The Pusher Channels app the bench serves and loads (pushgate started with `--pusher-apps`), and the
 * names its clients and its push driver agree on.
 */

/** `--pusher-apps` of the pushgate the side-by-side run starts for its Pusher endpoint: `id:key:secret`. */
export const BENCH_PUSHER_APP = 'bench:bench-key:bench-secret';

/**
 * The channel every Pusher client subscribes to at connect, beside its room: Pusher has no push to all
 * connections, so the bench's broadcast is an event to a channel everyone is on.
 */
export const EVERYONE_CHANNEL = 'everyone';

/** The name of every event the bench triggers. */
export const BENCH_EVENT = 'bench';
