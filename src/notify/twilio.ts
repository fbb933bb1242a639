import type { SmsMessage, SmsSender } from './sms-sender.js';
import { SmsDeliveryError } from './sms-sender.js';

export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  from: string;
  apiUrl: string;
  timeoutMs: number;
}

/** Twilio's Messages resource: form-encoded POST with HTTP basic auth (account SID, auth token). */
export class TwilioSmsSender implements SmsSender {
  readonly name = 'twilio';
  constructor(private readonly options: TwilioOptions) {}

  async send(message: SmsMessage): Promise<void> {
    const { accountSid, authToken, from, apiUrl, timeoutMs } = this.options;
    const url = `${apiUrl.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ To: message.to, From: from, Body: message.body }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new SmsDeliveryError(`twilio unreachable: ${(error as Error).name}`);
    }
    if (!response.ok) {
      // The body may echo the message; only the status goes into the error (and the log).
      await response.body?.cancel();
      throw new SmsDeliveryError(`twilio answered ${response.status}`);
    }
    await response.body?.cancel();
  }
}
