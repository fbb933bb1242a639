/** One outgoing text message. `to` is E.164. */
export interface SmsMessage {
  to: string;
  body: string;
}

/**
 * The seam between latchkey and whatever delivers text messages. `send` resolves when the
 * provider accepted the message and rejects (SmsDeliveryError) when it did not.
 */
export interface SmsSender {
  readonly name: string;
  send(message: SmsMessage): Promise<void>;
}

export class SmsDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmsDeliveryError';
  }
}
