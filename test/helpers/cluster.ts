/** `GET /stats?scope=cluster` of a push API (`host:port`), each request bounded. */
export async function clusterStats(api: string): Promise<any> {
  return (await fetch(`http://${api}/stats?scope=cluster`, { signal: AbortSignal.timeout(2000) })).json();
}

/**
 * Polls the cluster view until `holds` (presence is asynchronous) and returns it; fails after `ms`.
 * The deadline is checked inside the loop, so nothing keeps polling after a failure.
 */
export async function untilCluster(api: string, holds: (stats: any) => boolean, what: string, ms = 8000): Promise<any> {
  const deadline = Date.now() + ms;
  for (;;) {
    const stats = await clusterStats(api);
    if (holds(stats)) return stats;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
