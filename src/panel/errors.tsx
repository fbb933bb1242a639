import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../core/errors.js';
import { ButtonLink } from './components.js';
import { Layout } from './layout.js';
import { BARE_CONTEXT, type PageContext, renderDocument, sendPage } from './render.js';
import { setPageSecurityHeaders } from './security.js';

export function ErrorPage({
  ctx,
  status,
  title,
  message,
}: {
  ctx: PageContext;
  status: number;
  title: string;
  message: string;
}) {
  return (
    <Layout ctx={ctx} title={title} width="narrow">
      <section class="card error-page">
        <p class="error-status">Error {status}</p>
        <h1>{title}</h1>
        <p>{message}</p>
        <ButtonLink href="/" kind="primary">
          Go to the Start Page
        </ButtonLink>
      </section>
    </Layout>
  );
}

const NOT_FOUND = {
  title: 'Page not found',
  message: 'There is no page at this address. Check the address, or start again from the start page.',
};

/**
 * The HTML 404 for browsers, answered by the root not-found handler (outside the panel plugin,
 * so it sets the panel's security headers itself).
 */
export function sendNotFoundPage(reply: FastifyReply): FastifyReply {
  setPageSecurityHeaders(reply);
  return reply
    .code(404)
    .type('text/html; charset=utf-8')
    .send(renderDocument(<ErrorPage ctx={BARE_CONTEXT} status={404} {...NOT_FOUND} />));
}

/**
 * An error page for a request no panel route took (a URL the router could not read), answered
 * outside the panel plugin like the 404 above.
 */
export function sendBareErrorPage(
  request: FastifyRequest,
  reply: FastifyReply,
  error: ApiError,
): FastifyReply {
  setPageSecurityHeaders(reply);
  const text = describeError(error, request.log);
  return reply
    .code(text.status)
    .type('text/html; charset=utf-8')
    .send(renderDocument(<ErrorPage ctx={BARE_CONTEXT} {...text} />));
}

interface ErrorText {
  status: number;
  title: string;
  message: string;
}

/** What a person is told about an error no page handled itself. Nothing internal is shown. */
export function describeError(error: FastifyError | ApiError, log: FastifyRequest['log']): ErrorText {
  const code = 'code' in error ? error.code : undefined;
  if (code === 'FST_CSRF_INVALID_TOKEN' || code === 'FST_CSRF_MISSING_SECRET') {
    return {
      status: 403,
      title: 'This form has expired',
      message: 'The form was sent without a valid security token. Go back, reload the page and try again.',
    };
  }
  if (error instanceof ApiError) {
    if (error.status === 404) return { status: 404, ...NOT_FOUND };
    const title =
      error.status === 403
        ? 'Not allowed'
        : error.status === 429
          ? 'Too many requests'
          : 'Something is wrong';
    // ApiError messages are written for clients (no internals), so a person may read them too.
    return { status: error.status, title, message: error.message };
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return { status, title: 'Too much data', message: 'The form sent was too large.' };
  if (status >= 400 && status < 500) {
    return {
      status,
      title: 'Something is wrong',
      message: 'The request could not be understood. Try again.',
    };
  }
  log.error({ err: error }, 'unhandled error');
  return {
    status: 500,
    title: 'Something went wrong',
    message: 'The service encountered an unexpected error. Try again in a moment.',
  };
}

/** The panel's error handler: an HTML page with the status, never a stack or internal detail. */
export function sendErrorPage(
  request: FastifyRequest,
  reply: FastifyReply,
  error: FastifyError | ApiError,
  ctx: PageContext,
): FastifyReply {
  const text = describeError(error, request.log);
  // A page that says "too many" says when to come back, as the API's 429 does.
  const retryAfter = error instanceof ApiError ? error.headers['Retry-After'] : undefined;
  if (retryAfter !== undefined) reply.header('Retry-After', retryAfter);
  return sendPage(reply, <ErrorPage ctx={ctx} {...text} />, text.status);
}
