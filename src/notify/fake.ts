import type { SmsMessage, SmsSender } from './sms-sender.js';
import { SmsDeliveryError } from './sms-sender.js';

/** For tests: keeps what was sent, and can be told to fail. */
export class FakeSmsSender implements SmsSender {
  readonly name = 'fake';
  readonly sent: SmsMessage[] = [];
  failing = false;

  async send(message: SmsMessage): Promise<void> {
    if (this.failing) throw new SmsDeliveryError('fake provider failure');
    this.sent.push(message);
  }

  last(to?: string): SmsMessage | undefined {
    return [...this.sent].reverse().find((message) => to === undefined || message.to === to);
  }
}
