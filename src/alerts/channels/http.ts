/**
 * POSTs to webhook-style services. Errors name the host and the answer only: the URLs of Slack,
 * Mattermost and others carry their token in the path.
 */
export class ChannelSendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelSendError';
  }
}

const TIMEOUT_MS = 15_000;

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the server';
  }
}

export async function postTo(url: string, body: string, headers: Record<string, string>): Promise<void> {
  const host = hostOf(url);
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', body, headers, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new ChannelSendError(`could not reach ${host} (${cause})`);
  }
  // The body is read and dropped so the connection is released; its text may echo the request.
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new ChannelSendError(`${host} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
}
