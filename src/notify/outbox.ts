import fs from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import type { SmsMessage, SmsSender } from './sms-sender.js';

/** Development provider: appends {"to","body","sentAt"} as one JSON line to a file (API.md). */
export class OutboxSmsSender implements SmsSender {
  readonly name = 'outbox';
  constructor(
    private readonly file: string,
    private readonly clock: Clock,
  ) {}

  async send(message: SmsMessage): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const line = JSON.stringify({
      to: message.to,
      body: message.body,
      sentAt: new Date(this.clock.now()).toISOString(),
    });
    await fs.appendFile(this.file, `${line}\n`, { mode: 0o600 });
  }
}
