import type { Config } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { OutboxSmsSender } from './outbox.js';
import type { SmsSender } from './sms-sender.js';
import { TwilioSmsSender } from './twilio.js';
import { WebhookSmsSender } from './webhook.js';

export function createSmsSender(config: Config, clock: Clock): SmsSender {
  const { sms } = config;
  if (sms.provider === 'twilio' && sms.twilio)
    return new TwilioSmsSender({ ...sms.twilio, timeoutMs: sms.timeoutMs });
  if (sms.provider === 'webhook' && sms.webhook) {
    return new WebhookSmsSender({ ...sms.webhook, timeoutMs: sms.timeoutMs }, clock);
  }
  return new OutboxSmsSender(sms.outboxFile, clock);
}
