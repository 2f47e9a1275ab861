/** What an accepted push amounts to. */
export interface PushResult {
  /** Items accepted. */
  items: number;
  /** Connections the push is addressed to at acceptance. */
  recipients: number;
  /**
   * For a push to a room that keeps history: the offset its store gave its last item (item i of n has
   * `offset - (n - 1 - i)`), and the room stream's epoch.
   */
  offset?: number;
  epoch?: string;
}

/**
 * Pushing to clients: what the HTTP API (and library users, through the gateway) ask for. Each call
 * resolves once the push is accepted — it will be delivered — or rejects with a `PushError` saying why
 * not (bad input 4xx, or 503 when full, stopping or the broker is down: retry).
 */
export interface PushService {
  /** Items to every connection (on every node, in a cluster). `items`: an array of JSON values (or, from the API, their exact texts). */
  pushAll(items: unknown): Promise<PushResult>;
  /** Items to the members of `room`. */
  pushRoom(room: string, items: unknown): Promise<PushResult>;
  /** Items to one connection by id, on whichever node holds it. */
  pushConn(conn: string, items: unknown): Promise<PushResult>;
  /** Items to every connection of an authenticated user (the token's `sub`). */
  pushUser(user: string, items: unknown): Promise<PushResult>;
}
