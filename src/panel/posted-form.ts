import type { FastifyRequest } from 'fastify';

/**
 * The fields of a posted form (application/x-www-form-urlencoded). A field sent twice, or not
 * at all, reads as empty: no handler ever sees an array or undefined.
 */
export class PostedForm {
  private readonly fields: Record<string, unknown>;

  constructor(body: unknown) {
    this.fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  }

  static of(request: FastifyRequest): PostedForm {
    return new PostedForm(request.body);
  }

  /** The field's text, cut to `max` characters (inputs carry maxlength; this is the server's bound). */
  text(name: string, max = 256): string {
    const value = this.fields[name];
    return typeof value === 'string' ? value.slice(0, max) : '';
  }

  /** A ticked checkbox (sent as any value) is true; an unticked one is not sent at all. */
  checked(name: string): boolean {
    return typeof this.fields[name] === 'string';
  }
}
