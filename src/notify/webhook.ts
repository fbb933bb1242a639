import { createHmac } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { SmsMessage, SmsSender } from './sms-sender.js';
import { SmsDeliveryError } from './sms-sender.js';

export const SIGNATURE_HEADER = 'x-latchkey-signature';

/**
 * POSTs {"to","body","sentAt"} as JSON. `X-Latchkey-Signature: t=<unix seconds>,v1=<hex>` where
 * v1 = HMAC-SHA-256(secret, "<t>.<raw body>"), so the receiver can check origin and freshness.
 */
export function signWebhook(secret: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

export class WebhookSmsSender implements SmsSender {
  readonly name = 'webhook';
  constructor(
    private readonly options: { url: string; secret: string; timeoutMs: number },
    private readonly clock: Clock,
  ) {}

  async send(message: SmsMessage): Promise<void> {
    const now = this.clock.now();
    const body = JSON.stringify({ to: message.to, body: message.body, sentAt: new Date(now).toISOString() });
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signWebhook(this.options.secret, Math.floor(now / 1000), body),
        },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new SmsDeliveryError(`webhook unreachable: ${(error as Error).name}`);
    }
    await response.body?.cancel();
    if (!response.ok) throw new SmsDeliveryError(`webhook answered ${response.status}`);
  }
}
